"""Ray's Job Submission REST API (the dashboard's /api/jobs/, /api/packages/, /api/v0/nodes), over httpx2.

The server does not import ray (a second and ~100 MB): these few calls are all it needs, written from the
dashboard's own handlers (ray/dashboard/modules/job/job_head.py, 2.60). Every failure to reach the dashboard
becomes a BackendUnavailable that names the address and how to start a head.

Logs come from the state API (/api/v0/logs/file, what ray.util.state.get_log calls), not from the jobs API, which
answers the whole log as one JSON string whatever part is wanted (6.6 s for a 100 MB log).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Literal, overload

import httpx2 as httpx  # httpx2: the HTTP client mcp itself depends on (the httpx API)

from ...core.models import BackendUnavailable, InvalidJobSpec, JobNotFoundError

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
START_HINT = ("Start a head on the cluster's first machine with `pip install 'ray[default]'` then `ray start "
              "--head --dashboard-host 127.0.0.1` (its dashboard listens on port 8265), or point TRL_JOBS_RAY_ADDRESS "
              "at your cluster's dashboard (on KubeRay: `kubectl port-forward service/<cluster>-head-svc 8265`).")
_READ = 64 * 1024


class RayClient:
    """One dashboard address, one connection pool.

    Args:
        address: the dashboard's URL, e.g. http://127.0.0.1:8265 (a bare host:port gets http://).
        token: sent as `Authorization: Bearer <token>` when the cluster runs with RAY_AUTH_MODE=token.
        timeout: seconds to wait for an answer (connecting, or between two reads of a body).
    """

    def __init__(self, *, address: str = DEFAULT_ADDRESS, token: str | None = None, timeout: float = 30.0) -> None:
        address = address.strip().rstrip("/")
        if "://" not in address:
            address = f"http://{address}"
        self.address = address
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(base_url=address, headers=headers, timeout=httpx.Timeout(timeout),
                                       trust_env=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- jobs ---

    async def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._request("POST", "/api/jobs/", what="submit the job", json=body)
        return response.json()

    async def job(self, job_id: str) -> dict[str, Any] | None:
        """The job's details, or None when the cluster does not know it."""
        response = await self._request("GET", f"/api/jobs/{job_id}", what=f"inspect job {job_id}", missing_ok=True)
        return None if response is None else response.json()

    async def jobs(self) -> list[dict[str, Any]]:
        """Every job the cluster knows (Ray has no paging: the whole list comes at once)."""
        response = await self._request("GET", "/api/jobs/", what="list jobs")
        return [job for job in response.json() if job.get("type") == "SUBMISSION" and job.get("submission_id")]

    async def stop(self, job_id: str) -> bool:
        response = await self._request("POST", f"/api/jobs/{job_id}/stop", what=f"stop job {job_id}",
                                       missing_ok=True)
        if response is None:
            raise JobNotFoundError(job_id)
        return bool(response.json().get("stopped"))

    async def log_file(self, job_id: str | None, *, node_id: str, lines: int,
                       filename: str | None = None) -> AsyncGenerator[bytes, None]:
        """The job's log file (or `filename` in the node's Ray log folder) as it streams from its node through the
        state API: its last `lines` lines (Ray's agent seeks back from the end, so a tail costs what it returns), or
        the whole file from its start with -1. Yields nothing for a file not written yet."""
        params = {"node_id": node_id, "lines": str(lines)}
        params.update({"filename": filename} if filename else {"submission_id": job_id or ""})
        try:
            async with self._http.stream("GET", "/api/v0/logs/file", params=params) as response:
                if response.status_code >= 400:
                    text = (await response.aread()).decode(errors="replace")
                    if "Could not find a log file" in text:  # the driver has not opened it yet
                        return
                    raise self._status_error(response, what=f"read {filename or f'the logs of job {job_id}'}")
                async for chunk in response.aiter_bytes(_READ):
                    yield chunk
        except httpx.TransportError as err:
            raise self._unreachable(err, what=f"read the logs of job {job_id}") from err

    # --- cluster ---

    async def version(self) -> dict[str, Any]:
        return (await self._request("GET", "/api/version", what="check the dashboard")).json()

    async def nodes(self) -> list[dict[str, Any]]:
        """The alive nodes with their total resources ({"CPU": 2.0, "GPU": 1.0, "memory": bytes, ...})."""
        response = await self._request("GET", "/api/v0/nodes", what="read the cluster's resources",
                                       params={"detail": "1", "limit": "10000"})
        rows = response.json().get("data", {}).get("result", {}).get("result", [])
        return [row for row in rows if row.get("state") == "ALIVE"]

    async def has_package(self, name: str) -> bool:
        # Asking also pins the package for a while (Ray's own SDK relies on that between upload and submit).
        return await self._request("GET", f"/api/packages/gcs/{name}", what="look up a package",
                                   missing_ok=True) is not None

    async def put_package(self, name: str, data: bytes) -> None:
        """Store bytes in the cluster's GCS under gcs://<name>. The REST API can store them but never read them back."""
        await self._request("PUT", f"/api/packages/gcs/{name}", what="upload a package", content=data)

    # --- plumbing ---

    @overload
    async def _request(self, method: str, path: str, *, what: str, missing_ok: Literal[False] = False,
                       **kwargs: Any) -> httpx.Response: ...

    @overload
    async def _request(self, method: str, path: str, *, what: str, missing_ok: bool, **kwargs: Any
                       ) -> httpx.Response | None: ...

    async def _request(self, method: str, path: str, *, what: str, missing_ok: bool = False,
                       **kwargs: Any) -> httpx.Response | None:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as err:
            raise self._unreachable(err, what=what) from err
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            raise self._status_error(response, what=what)
        return response

    def _unreachable(self, err: BaseException, *, what: str) -> BackendUnavailable:
        kind = type(err).__name__
        return BackendUnavailable(f"Cannot reach the Ray cluster's dashboard at {self.address} to {what} ({kind}"
                                  f"{': ' + str(err) if str(err) else ''}). Is the head running? {START_HINT}")

    def _status_error(self, response: httpx.Response, *, what: str) -> Exception:
        status = response.status_code
        said = _said(response.text)
        if status in (401, 403):
            return BackendUnavailable(f"The Ray dashboard at {self.address} refused to {what} ({status}: {said}). "
                                      "The cluster wants a token: set TRL_JOBS_RAY_TOKEN to it.")
        if status == 400:
            return InvalidJobSpec(f"the Ray cluster at {self.address} refused to {what}: {said}")
        return BackendUnavailable(f"The Ray dashboard at {self.address} answered {status} to the request to {what} "
                                  f"({said}). Check the head's health (`ray status` on the head), then try again.")


def _said(text: str) -> str:
    """The useful line of an error body: the last line of a traceback, else the first line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "no details"
    return (lines[-1] if lines[0].startswith("Traceback") else lines[0])[:500]
