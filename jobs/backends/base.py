"""The Backend protocol: what every place that runs jobs (local, Hugging Face, Ray) answers.

Tools and recipes speak to this protocol only; they never name a backend. What differs between backends is stated
by the backend itself: a few facts in `traits` (a `BackendTraits`), and two questions it answers, `command_line`
(the line a user would type to launch a spec by hand) and `parameter_count` (a model's size, asked wherever this
backend can ask). A job's page (`JobInfo.url`) and where its results land (`JobInfo.output_dir`) come back in the
JobInfo the backend returns. `system_metrics` (CPU, memory, GPUs of a job) is each backend's own; one that does not
sample its jobs takes NoSystemMetrics' empty answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..core.models import InvalidJobSpec, JobNotFoundError
from ..extras.schedules import SchedulesUnsupported

if TYPE_CHECKING:
    from ..core.flavors import Flavor
    from ..analysis.metrics.system import SystemMetrics
    from ..core.models import JobInfo, JobPage, JobSpec, JobStage, LogChunk, RunRecord
    from ..extras.schedules import ScheduledJob
    from ..extras.uploads import LocalUpload


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
        multi_node: a training run can be spread over several workers (JobSpec.workers), each with the flavor's
            hardware, placed across the backend's nodes. False: a run is one process tree on one machine, and a
            launch asking for more workers is refused.
        local_paths: a path the user gives (a local model, dataset or output folder, a reward function imported
            from the job's environment) is taken as the job's own: the job runs here, or on machines the user set
            up to see the same files (a Ray head on this machine, a shared filesystem). The recipe checks that a
            model or dataset exists here and passes paths on. False: the job's world is a fresh container, and the
            recipe refuses them. True wherever runs_here is.

    Hub extras (issue 15; each False unless the backend has it):
        supports_schedules: keeps scheduled jobs (`schedule`, `list_scheduled`, ...); else each of those calls
            raises SchedulesUnsupported, which names the field to drop (inherit NoSchedules).
        uploads_local_inputs: its jobs cannot read this machine's files, and with the user's consent a local
            dataset or model goes to a private repo through `upload_inputs`, the job then reading that repo.
        native_rerun: `rerun` reruns a job exactly as it was, secrets included, by the backend's own means; else a
            rerun is rebuilt from `run_record`'s spec and asks for secret values again.
        hardware_note: what a flavor means on this backend when it is not a machine of its own (locally: a share of
            this machine), said by list_hardware beside the flavors; None where a flavor is the machine it names.
        label_forbidden: a regex of the characters this backend does not store in a label value (each becomes
            '-'), and label_max the most characters it stores; `spell_label` applies both, so that what a dry run
            shows is what the backend stores and lists by. None: labels are stored as given.
        job_id_shape: a regex every id of this backend's jobs matches whole, and job_id_example one such id;
            `check_job_id` refuses any other before it reaches a path, a query or a URL (`../x` once went to the
            Hub as `GET /api/x`).

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
    multi_node: bool = False
    # --- Hub extras (issue 15) ---
    supports_schedules: bool = False
    uploads_local_inputs: bool = False
    native_rerun: bool = False
    hardware_note: str | None = None
    label_forbidden: str | None = None
    label_max: int | None = None
    job_id_shape: str = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}"
    job_id_example: str = "trl-0123456789ab"

    def check_job_id(self, job_id: str) -> str:
        """`job_id` without surrounding spaces, when it has this backend's shape.

        Raises:
            JobNotFoundError: any other string (no job has it), saying what an id here looks like.
        """
        ref = job_id.strip() if isinstance(job_id, str) else ""
        if re.fullmatch(self.job_id_shape, ref) is None:
            raise JobNotFoundError(str(job_id), f"No job with id {str(job_id)[:200]!r}: job ids on {self.place} look "
                                                f"like {self.job_id_example!r}. Call list_jobs to see the jobs that "
                                                "exist.")
        return ref

    def spell_label(self, value: str) -> str:
        """`value` as this backend stores a label value."""
        if self.label_forbidden is not None:
            value = re.sub(self.label_forbidden, "-", value)
        return value[:self.label_max] if self.label_max is not None else value


@runtime_checkable
class Backend(Protocol):
    """A place that runs jobs.

    A job that fails is a normal result (stage ERROR with a message). Methods raise only JobNotFoundError (unknown
    id), InvalidJobSpec (bad input, nothing created) and BackendUnavailable (cannot reach or use the backend).

    The rerun, scheduled-job and upload methods below are answered as `traits` says (see BackendTraits' Hub
    extras); a backend without any of them inherits NoHubExtras and writes only `run_record`.
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

    def command_line(self, spec: JobSpec, *, schedule: str | None = None) -> list[str] | None:
        """The argv a user would type to launch `spec` by hand with this backend's own CLI (hf: `hf jobs uv run
        ...`; ray: `ray job submit ...`), secrets by name only and never by value. None for a backend without
        such a line (local: the job's command is what runs). No network, no state: a dry run calls it.
        A backend with `traits.supports_schedules` also takes `schedule=` (a checked schedule) and answers the
        line that schedules `spec` (hf: `hf jobs scheduled (uv) run <schedule> ...`); others are never passed it."""
        ...

    async def parameter_count(self, model: str) -> float | None:
        """The parameter count of the Hub model `model` (its safetensors total), asked the way this backend
        reaches the Hub; None when it has no count or this backend does not ask (local: offline by design, the
        caller then reads the local cache). May raise anything on a failed look-up: callers treat the look-up
        as a convenience and fall back."""
        ...

    # --- reruns ---

    async def run_record(self, job_id: str) -> RunRecord:
        """What the job ran (secrets by name only), to run it again with changes."""
        ...

    async def rerun(self, job_id: str) -> JobInfo | None:
        """Run the job again exactly as it was, by the backend's own means; None when it has none (the caller
        then submits `run_record`'s spec)."""
        ...

    # --- scheduled jobs (traits.supports_schedules) ---

    async def schedule(self, spec: JobSpec, *, schedule: str) -> ScheduledJob: ...

    async def list_scheduled(self, *, labels: dict[str, str] | None = None) -> list[ScheduledJob]: ...

    async def inspect_scheduled(self, scheduled_id: str) -> ScheduledJob: ...

    async def change_scheduled(self, scheduled_id: str, *, action: str) -> ScheduledJob | None:
        """action: suspend, resume or delete. Returns the scheduled job after, None once deleted."""
        ...

    async def trigger_scheduled(self, scheduled_id: str) -> JobInfo: ...

    # --- local inputs (traits.uploads_local_inputs) ---

    async def upload_namespace(self, *, dry_run: bool) -> str: ...

    async def upload_inputs(self, uploads: list[LocalUpload], *, dry_run: bool) -> list[LocalUpload]: ...


class NoSchedules:
    """The scheduled-job half of the protocol for a backend without schedules: each call says so, naming the field."""

    name: str

    async def schedule(self, spec: JobSpec, *, schedule: str) -> ScheduledJob:
        raise SchedulesUnsupported(self.name)

    async def list_scheduled(self, *, labels: dict[str, str] | None = None) -> list[ScheduledJob]:
        raise SchedulesUnsupported(self.name, field="action")

    async def inspect_scheduled(self, scheduled_id: str) -> ScheduledJob:
        raise SchedulesUnsupported(self.name, field="action")

    async def change_scheduled(self, scheduled_id: str, *, action: str) -> ScheduledJob | None:
        raise SchedulesUnsupported(self.name, field="action")

    async def trigger_scheduled(self, scheduled_id: str) -> JobInfo:
        raise SchedulesUnsupported(self.name, field="action")


class NoHubExtras(NoSchedules):
    """The Hub extras' half of the protocol for a backend with none of them (all three traits False): no schedules,
    no rerun of its own (the caller submits `run_record`'s spec), and nothing to upload (its jobs read local files
    or the recipe refuses them)."""

    async def rerun(self, job_id: str) -> JobInfo | None:
        return None

    async def upload_namespace(self, *, dry_run: bool) -> str:
        raise InvalidJobSpec(f"the {self.name} backend uploads nothing; drop upload_local_data.",
                             field="upload_local_data")

    async def upload_inputs(self, uploads: list[LocalUpload], *, dry_run: bool) -> list[LocalUpload]:
        return []


class NoSystemMetrics:
    """Mixin: `system_metrics` for a backend that does not sample its jobs (yet): no samples, and a note saying so,
    so that job_metrics still shows the training curves. The job is looked up first, so an unknown id still fails.
    """

    async def system_metrics(self, job_id: str) -> SystemMetrics:
        from ..analysis.metrics.system import SystemMetrics

        await self.inspect(job_id)  # type: ignore[attr-defined]
        place = self.traits.place  # type: ignore[attr-defined]
        return SystemMetrics(source="none", note=f"No system metrics (CPU, memory, GPU) from {place}: this backend "
                                                 "does not sample its jobs.")
