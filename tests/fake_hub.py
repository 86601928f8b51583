"""A fake Hugging Face Hub that says no the way the real one does (status codes and X-Error-* headers, as
huggingface_hub's hf_raise_for_status reads them), and knows the size of one model."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


# Models whose info the fake Hub does serve (GET /api/models/<id>), with a safetensors parameter total.
MODEL_SIZES = {"someorg/sized-model": 494_032_768}


class _Handler(BaseHTTPRequestHandler):
    def _refuse(self) -> None:
        repo = self.path.split("?", 1)[0].removeprefix("/api/models/")
        if self.command == "GET" and repo in MODEL_SIZES:
            total = MODEL_SIZES[repo]
            body = json.dumps({"id": repo, "safetensors": {"parameters": {"BF16": total}, "total": total}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if "gated-" in self.path:
            self.send_response(403)
            self.send_header("X-Error-Code", "GatedRepo")
            self.send_header("X-Error-Message", "Access to this repo is restricted and you are not in the authorized list.")
        elif "badtoken-" in self.path:
            self.send_response(401)
            self.send_header("X-Error-Message", "Invalid credentials in Authorization header")
        else:
            self.send_response(404)
            self.send_header("X-Error-Code", "RepoNotFound")
            self.send_header("X-Error-Message", "Repository not found")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = _refuse

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


class FakeHub:
    """`with FakeHub() as url:` serves on 127.0.0.1 until the block ends."""

    def __enter__(self) -> str:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
