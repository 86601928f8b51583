"""Streamable HTTP: the MCP app behind an optional bearer-token check, served by uvicorn.

Bound to 127.0.0.1 by default, where the SDK also turns on DNS-rebinding protection (Host and Origin checks). A
non-loopback host is refused by Settings.check unless a token is set; with a token, every HTTP request must carry
`Authorization: Bearer <token>` or gets 401 before it reaches MCP.
"""

from __future__ import annotations

import hmac
import json
import sys
from typing import TYPE_CHECKING

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
    app: ASGIApp = server.streamable_http_app(streamable_http_path=MCP_PATH, host=settings.host)
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
