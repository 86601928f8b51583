"""Streamable HTTP: the MCP app behind an optional bearer-token check, served by uvicorn.

Bound to 127.0.0.1 by default, where the SDK also turns on DNS-rebinding protection (Host and Origin checks). A
non-loopback host is refused by Settings.check unless a token is set; with a token, every HTTP request must carry
`Authorization: Bearer <token>` or gets 401 before it reaches MCP.
"""

from __future__ import annotations

import hmac
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from starlette.types import ASGIApp, Receive, Scope, Send

    from .settings import Settings

MCP_PATH = "/mcp"


class BearerAuth:
    """ASGI middleware: HTTP requests without the right bearer token get 401; lifespan events pass through."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            given = b""
            for name, value in scope.get("headers", ()):
                if name.lower() == b"authorization":
                    given = value
                    break
            if not self.accepts(given):
                await _unauthorized(send)
                return
        await self.app(scope, receive, send)

    def accepts(self, header: bytes) -> bool:
        """Whether an Authorization header value carries our token. The scheme is case-insensitive (RFC 9110
        11.1: "bearer" and "BEARER" are "Bearer"); the token is compared in constant time, whatever the scheme
        said, so the time taken tells nothing about either."""
        scheme, _, token = header.strip().partition(b" ")
        matches = hmac.compare_digest(token.lstrip(b" "), self._expected)
        return scheme.lower() == b"bearer" and matches


class RefuseDuplicateKeys:
    """ASGI middleware: a POSTed tools/call whose JSON repeats a key in one object gets a JSON-RPC error naming the
    key (server/wire.py says why); every other request reaches the app with its body as it came."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        from .wire import duplicate_key, duplicate_key_error, top_level_id

        key = duplicate_key(body) if b'"tools/call"' in body else None
        request_id = top_level_id(body.decode("utf-8", errors="replace")) if key else None
        if key is None or request_id is None:
            await self.app(scope, _replay([body], None, receive), send)
            return
        answer = duplicate_key_error(request_id, key).model_dump_json(by_alias=True, exclude_unset=True).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})


def _replay(bodies: list[bytes], other: Any, receive: Receive) -> Receive:
    """A `receive` that gives the body already read (or the non-body message met), then the real one's messages."""
    queue: list[Any] = [{"type": "http.request", "body": b, "more_body": False} for b in bodies]
    if other is not None:
        queue.append(other)

    async def replay() -> Any:
        return queue.pop(0) if queue else await receive()

    return replay


async def _unauthorized(send: Send) -> None:
    body = json.dumps({"error": "unauthorized",
                       "error_description": "This server needs 'Authorization: Bearer <token>' (the token given "
                                            "to trl-jobs-mcp with --auth-token or TRL_JOBS_AUTH_TOKEN)."}).encode()
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"www-authenticate", b'Bearer realm="trl-jobs-mcp"')]})
    await send({"type": "http.response.body", "body": body})


def http_app(server: MCPServer, settings: Settings) -> ASGIApp:
    """The ASGI app: MCP at /mcp, wrapped in BearerAuth when a token is set."""
    app: ASGIApp = RefuseDuplicateKeys(server.streamable_http_app(streamable_http_path=MCP_PATH, host=settings.host))
    if settings.auth_token:
        app = BearerAuth(app, settings.auth_token)
    return app


async def serve_http(server: MCPServer, settings: Settings) -> None:
    import uvicorn

    config = uvicorn.Config(http_app(server, settings), host=settings.host, port=settings.port,
                            log_level=settings.log_level.lower(), lifespan="on")
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    auth = " (bearer token required)" if settings.auth_token else ""
    print(f"trl-jobs-mcp: serving MCP over streamable HTTP at http://{host}:{settings.port}{MCP_PATH}{auth}",
          file=sys.stderr, flush=True)
    await uvicorn.Server(config).serve()
