"""A running job's system metrics from Hugging Face: `fetch_job_metrics(follow=True)` (one sample a second, no
history) listened to for a bounded time in a daemon thread, which leaves at its next event once told to stop."""

from __future__ import annotations

import threading
import time
from typing import Any

from huggingface_hub import HfApi

from ...analysis.metrics.system import SystemMetrics, from_hub
from ...core.models import JobStage


class MetricsReader:
    def __init__(self, api: HfApi, *, job_id: str, namespace: str, token: str) -> None:
        self._stream = api.fetch_job_metrics(job_id=job_id, namespace=namespace, token=token, follow=True)
        self._cond = threading.Condition()
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.error: BaseException | None = None
        self._done = self._stopped = False
        threading.Thread(target=self._run, name=f"hf-metrics-{job_id}", daemon=True).start()

    def _run(self) -> None:
        try:
            for event in self._stream:
                with self._cond:
                    if isinstance(event, dict):
                        self.events.append((time.time(), event))
                    self._cond.notify_all()
                    if self._stopped:
                        break
        except BaseException as err:  # noqa: BLE001 - handed to the caller, who translates it
            with self._cond:
                self.error = err
        finally:
            getattr(self._stream, "close", lambda: None)()  # a generator: closes the response
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def wait(self, seconds: float, enough: int) -> None:
        """Until `seconds` have passed, `enough` samples came, or the stream ended."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while not self._done and len(self.events) < enough and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())

    def stop(self) -> None:
        with self._cond:
            self._stopped = True


def listen(api: HfApi, *, job_id: str, namespace: str, token: str, seconds: float,
           enough: int) -> tuple[list[tuple[float, dict[str, Any]]], BaseException | None]:
    """(the samples that came with their arrival times, the error that ended the stream) after listening for up to
    `seconds` or `enough` samples. Blocking."""
    reader = MetricsReader(api, job_id=job_id, namespace=namespace, token=token)
    try:
        reader.wait(seconds, enough)
    finally:
        reader.stop()
    with reader._cond:
        return list(reader.events), reader.error


def not_running(stage: JobStage) -> SystemMetrics:
    return SystemMetrics(source="none", note=f"Hugging Face streams system metrics only while a job runs, and keeps "
                                             f"none; this job is {stage.value}.")


def read_metrics(api: HfApi, *, job_id: str, namespace: str, token: str, seconds: float,
                 enough: int) -> tuple[SystemMetrics | None, BaseException | None]:
    """(the metrics heard, None) or, when the stream failed before any sample, (None, its error). Blocking."""
    events, error = listen(api, job_id=job_id, namespace=namespace, token=token, seconds=seconds, enough=enough)
    if error is not None and not events:
        return None, error
    return from_hub(events, note=f"Hugging Face keeps no history: these are the {len(events)} samples of the "
                                 f"{seconds:g} s this call listened."), None
