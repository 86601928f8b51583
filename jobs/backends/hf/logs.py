"""Reading a job's log stream (server-sent events that replay the history) in a thread a caller can stop waiting on."""

from __future__ import annotations

import threading
import time
from typing import Any

from huggingface_hub import HfApi


class LogReader:
    """Consumes one `fetch_job_logs(follow=False)` stream in a daemon thread, so a caller can stop waiting at any
    moment and keep what arrived. After `stop()` the thread leaves at its next event; on a quiet stream the
    client's own read timeout (5 s, shorter than the Hub's 30 s keep-alive) ends it."""

    def __init__(self, api: HfApi, *, job_id: str, namespace: str, token: str) -> None:
        self._api = api
        self._args: dict[str, Any] = dict(job_id=job_id, namespace=namespace, token=token, follow=False)
        self._cond = threading.Condition()
        self._lines: list[str] = []
        self._last = time.monotonic()
        self._done = False
        self._ended = False  # the stream ended by itself (not by stop() or an error)
        self._stopped = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"hf-logs-{job_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        stream = self._api.fetch_job_logs(**self._args)
        try:
            for line in stream:
                with self._cond:
                    self._lines.append(line)
                    self._last = time.monotonic()
                    self._cond.notify_all()
                    if self._stopped:
                        break
            else:
                with self._cond:
                    self._ended = True
        except BaseException as err:  # noqa: BLE001 - handed to the caller, who translates it
            with self._cond:
                self._error = err
        finally:
            getattr(stream, "close", lambda: None)()  # a generator: closing it closes the response if we left early
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def wait(self, deadline: float, idle: float, first_wait: float) -> None:
        """Block until the stream ends, the deadline passes, no line came for `idle` seconds after one, or none
        came in `first_wait` seconds."""
        with self._cond:
            while not self._done:
                limit = min(deadline, self._last + (idle if self._lines else first_wait))
                now = time.monotonic()
                if now >= limit:
                    return
                self._cond.wait(limit - now)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True

    def snapshot(self) -> tuple[list[str], bool, BaseException | None]:
        """(lines so far, whether the stream ended by itself, the error that ended it)."""
        with self._cond:
            return list(self._lines), self._ended, self._error
