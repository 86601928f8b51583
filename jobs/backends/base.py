"""The Backend protocol: what every place that runs jobs (local, Hugging Face, later Ray) answers."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from trl_jobs_mcp.jobs.flavors import Flavor
from trl_jobs_mcp.jobs.models import JobInfo, JobPage, JobSpec, JobStage, LogChunk


@runtime_checkable
class Backend(Protocol):
    """A place that runs jobs.

    A job that fails is a normal result (stage ERROR with a message). Methods raise only JobNotFoundError (unknown
    id), InvalidJobSpec (bad input, nothing created) and BackendUnavailable (cannot reach or use the backend).
    """

    name: str
    billed: bool
    """A run is billed at its flavor's price per hour for as long as it runs (jobs/cost.py); False: free."""
    keeps_files: bool
    """A job's output_dir stays readable by the user after it ends; False: only what the job pushes is kept."""

    async def start(self) -> None:
        """Open stores, reconcile jobs left from a previous run, start background work. Idempotent."""
        ...

    async def aclose(self) -> None:
        """Stop background work. Running jobs keep running (a later start adopts them)."""
        ...

    async def submit(self, spec: JobSpec) -> JobInfo: ...

    async def list(self, *, stages: set[JobStage] | None = None, labels: dict[str, str] | None = None,
                   limit: int = 50, cursor: str | None = None) -> JobPage: ...

    async def inspect(self, job_id: str) -> JobInfo: ...

    async def logs(self, job_id: str, *, tail: int | None = None, since: int | None = None) -> LogChunk: ...

    async def cancel(self, job_id: str) -> JobInfo: ...

    async def hardware(self) -> list[Flavor]:
        """Every flavor, with `runnable` set to whether this backend can run it."""
        ...

    def check_flavor(self, flavor: str) -> Flavor:
        """The flavor, if this backend can run it; else InvalidJobSpec(field="flavor") that says what can."""
        ...
