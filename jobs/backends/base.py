"""The Backend protocol: what every place that runs jobs (local, Hugging Face, Ray) answers.

Tools and recipes speak to this protocol only; they never name a backend. What differs between backends is stated
by the backend itself: a few facts in `traits` (a `BackendTraits`), and two questions it answers, `command_line`
(the line a user would type to launch a spec by hand) and `parameter_count` (a model's size, asked wherever this
backend can ask). A job's page (`JobInfo.url`) and where its results land (`JobInfo.output_dir`) come back in the
JobInfo the backend returns. `system_metrics` (CPU, memory, GPUs of a job) is each backend's own; one that does not
sample its jobs takes NoSystemMetrics' empty answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from trl_jobs_mcp.jobs.flavors import Flavor
    from trl_jobs_mcp.jobs.metrics.system import SystemMetrics
    from trl_jobs_mcp.jobs.models import JobInfo, JobPage, JobSpec, JobStage, LogChunk


@dataclass(frozen=True)
class BackendTraits:
    """What a backend is, as far as tools and recipes must know.

    Attributes:
        place: where jobs run, for a reader: "this machine", "Hugging Face Jobs", "the Ray cluster at <address>".
        runs_here: jobs run on this machine, with its files, its Python and its installed packages. Then a recipe
            checks the request against the installed TRL and its packages; otherwise against TRL's pinned release,
            and it passes the Hugging Face token as a secret (`$HF_TOKEN`, which the backend resolves), since the
            job cannot see this machine's login. What the job runs, and whether it takes local paths, are
            `entry_command` and `local_paths`.
        billed: a run is billed by the flavor's price per hour (Flavor.price_per_hour, Hugging Face Jobs' prices)
            for as long as it runs, so the server's spending ceiling applies. False: a run costs nothing here.
        keeps_files: what a job writes (its output_dir) stays where the user can read it after the job ends.
            False: the job's filesystem goes with it, and only what the job pushes (to the Hub) is kept.
        poll_seconds: how often a waiting tool asks about a running job: a file read locally, an HTTP call remotely.
        entry_command: the argv that starts our training entry module (jobs/recipes/entry.py) in a job; a recipe
            appends the trainer and TRL's arguments. Here: this Python's `-m trl_jobs_mcp.jobs.recipes.entry`;
            elsewhere, the copy the backend ships with each job, run by the job's own Python (Ray: `python -m
            trl_jobs_ray.entry` on a node), and then the recipe lists TRL pinned to a release (and what the request
            needs) as the job's dependencies. None: the job runs TRL's own script for the trainer, pinned to a
            release, as a uv script.
        local_paths: a path the user gives (a local model, dataset or output folder, a reward function imported
            from the job's environment) is taken as the job's own: the job runs here, or on machines the user set
            up to see the same files (a Ray head on this machine, a shared filesystem). The recipe checks that a
            model or dataset exists here and passes paths on. False: the job's world is a fresh container, and the
            recipe refuses them. True wherever runs_here is.

    Example:
        >>> BackendTraits(place="this machine", runs_here=True, billed=False, keeps_files=True, poll_seconds=1.0,
        ...               entry_command=(sys.executable, "-P", "-m", ENTRY_MODULE), local_paths=True)
    """

    place: str
    runs_here: bool
    billed: bool
    keeps_files: bool
    poll_seconds: float = 5.0
    entry_command: tuple[str, ...] | None = None
    local_paths: bool = False


@runtime_checkable
class Backend(Protocol):
    """A place that runs jobs.

    A job that fails is a normal result (stage ERROR with a message). Methods raise only JobNotFoundError (unknown
    id), InvalidJobSpec (bad input, nothing created) and BackendUnavailable (cannot reach or use the backend).
    """

    name: str
    traits: BackendTraits

    async def start(self) -> None:
        """Open stores, reconcile jobs left from a previous run, start background work. Idempotent."""
        ...

    async def aclose(self) -> None:
        """Stop background work. Running jobs keep running (a later start adopts them)."""
        ...

    async def submit(self, spec: JobSpec) -> JobInfo:
        """Start `spec`; the JobInfo carries the job's id, its page (`url`) and where its results go
        (`output_dir`), as this backend knows them."""
        ...

    async def check(self, spec: JobSpec) -> None:
        """Raise InvalidJobSpec for what `submit` would refuse before creating anything, creating nothing: a dry
        run calls it, so that it refuses exactly what the launch refuses."""
        ...

    async def list(self, *, stages: set[JobStage] | None = None, labels: dict[str, str] | None = None,
                   limit: int = 50, cursor: str | None = None) -> JobPage: ...

    async def inspect(self, job_id: str) -> JobInfo: ...

    async def logs(self, job_id: str, *, tail: int | None = None, since: int | None = None) -> LogChunk: ...

    async def cancel(self, job_id: str) -> JobInfo: ...

    async def system_metrics(self, job_id: str) -> SystemMetrics:
        """The job's CPU, memory and per-GPU samples, as far as this backend sees them (bounded in time); `note`
        says why there are few or none. Raises JobNotFoundError for an unknown id. A backend that cannot sample
        yet inherits NoSystemMetrics' answer (none, with a note) rather than failing the metrics tool."""
        ...

    async def hardware(self) -> list[Flavor]:
        """Every flavor, with `runnable` set to whether this backend can run it."""
        ...

    def check_flavor(self, flavor: str) -> Flavor:
        """The flavor, if this backend can run it; else InvalidJobSpec(field="flavor") that says what can."""
        ...

    def command_line(self, spec: JobSpec) -> list[str] | None:
        """The argv a user would type to launch `spec` by hand with this backend's own CLI (hf: `hf jobs uv run
        ...`; ray: `ray job submit ...`), secrets by name only and never by value. None for a backend without
        such a line (local: the job's command is what runs). No network, no state: a dry run calls it."""
        ...

    async def parameter_count(self, model: str) -> float | None:
        """The parameter count of the Hub model `model` (its safetensors total), asked the way this backend
        reaches the Hub; None when it has no count or this backend does not ask (local: offline by design, the
        caller then reads the local cache). May raise anything on a failed look-up: callers treat the look-up
        as a convenience and fall back."""
        ...


class NoSystemMetrics:
    """Mixin: `system_metrics` for a backend that does not sample its jobs (yet): no samples, and a note saying so,
    so that job_metrics still shows the training curves. The job is looked up first, so an unknown id still fails.
    """

    async def system_metrics(self, job_id: str) -> SystemMetrics:
        from trl_jobs_mcp.jobs.metrics.system import SystemMetrics

        await self.inspect(job_id)  # type: ignore[attr-defined]
        place = self.traits.place  # type: ignore[attr-defined]
        return SystemMetrics(source="none", note=f"No system metrics (CPU, memory, GPU) from {place}: this backend "
                                                 "does not sample its jobs.")
