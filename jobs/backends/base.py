"""The Backend protocol: what every place that runs jobs (local, Hugging Face, later Ray) answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from trl_jobs_mcp.jobs.flavors import Flavor
from trl_jobs_mcp.jobs.models import JobInfo, JobPage, JobSpec, JobStage, LogChunk, RunRecord
from trl_jobs_mcp.jobs.schedules import ScheduledJob, SchedulesUnsupported

if TYPE_CHECKING:
    from trl_jobs_mcp.jobs.uploads import LocalUpload


@runtime_checkable
class Backend(Protocol):
    """A place that runs jobs.

    A job that fails is a normal result (stage ERROR with a message). Methods raise only JobNotFoundError (unknown
    id), InvalidJobSpec (bad input, nothing created) and BackendUnavailable (cannot reach or use the backend).

    Capabilities are attributes, so a tool asks the backend rather than its name: `supports_schedules` (else every
    scheduled-job method raises SchedulesUnsupported: inherit NoSchedules), `uploads_local_inputs` (its jobs cannot
    read this machine's files; local inputs go through `upload_inputs`), `native_rerun` (`rerun` reruns a job as it
    was, secrets included; else a rerun is rebuilt from `run_record` and asks for secret values again).
    """

    name: str
    supports_schedules: bool
    uploads_local_inputs: bool
    native_rerun: bool

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

    # --- reruns ---

    async def run_record(self, job_id: str) -> RunRecord:
        """What the job ran (secrets by name only), to run it again with changes."""
        ...

    async def rerun(self, job_id: str) -> JobInfo | None:
        """Run the job again exactly as it was, by the backend's own means; None when it has none (the caller
        then submits `run_record`'s spec)."""
        ...

    # --- scheduled jobs (supports_schedules) ---

    async def schedule(self, spec: JobSpec, *, schedule: str) -> ScheduledJob: ...

    async def list_scheduled(self, *, labels: dict[str, str] | None = None) -> list[ScheduledJob]: ...

    async def inspect_scheduled(self, scheduled_id: str) -> ScheduledJob: ...

    async def change_scheduled(self, scheduled_id: str, *, action: str) -> ScheduledJob | None:
        """action: suspend, resume or delete. Returns the scheduled job after, None once deleted."""
        ...

    async def trigger_scheduled(self, scheduled_id: str) -> JobInfo: ...

    # --- local inputs (uploads_local_inputs) ---

    async def upload_namespace(self, *, dry_run: bool) -> str: ...

    async def upload_inputs(self, uploads: list[LocalUpload], *, dry_run: bool) -> list[LocalUpload]: ...


class NoSchedules:
    """The scheduled-job half of the protocol for a backend without schedules: each call says so, naming the field."""

    name: str
    supports_schedules = False

    async def schedule(self, spec: JobSpec, *, schedule: str) -> ScheduledJob:
        raise SchedulesUnsupported(self.name)

    async def list_scheduled(self, *, labels: dict[str, str] | None = None) -> list[ScheduledJob]:
        raise SchedulesUnsupported(self.name)

    async def inspect_scheduled(self, scheduled_id: str) -> ScheduledJob:
        raise SchedulesUnsupported(self.name)

    async def change_scheduled(self, scheduled_id: str, *, action: str) -> ScheduledJob | None:
        raise SchedulesUnsupported(self.name)

    async def trigger_scheduled(self, scheduled_id: str) -> JobInfo:
        raise SchedulesUnsupported(self.name)
