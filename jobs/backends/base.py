"""The Backend protocol: what every place that runs jobs (local, Hugging Face, Ray) answers.

Tools and recipes speak to this protocol only; they never name a backend. What differs between backends is stated
by the backend itself: a few facts in `traits` (a `BackendTraits`), and two questions it answers, `command_line`
(the line a user would type to launch a spec by hand) and `parameter_count` (a model's size, asked wherever this
backend can ask). A job's page (`JobInfo.url`) and where its results land (`JobInfo.output_dir`) come back in the
JobInfo the backend returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from trl_jobs_mcp.jobs.flavors import Flavor
    from trl_jobs_mcp.jobs.models import JobInfo, JobPage, JobSpec, JobStage, LogChunk


@dataclass(frozen=True)
class BackendTraits:
    """What a backend is, as far as tools and recipes must know.

    Attributes:
        place: where jobs run, for a reader: "this machine", "Hugging Face Jobs", "the Ray cluster at <address>".
        runs_here: jobs run on this machine, with its files, its Python and its installed packages. Then a recipe
            may take local model and dataset paths and runs TRL through this Python; otherwise it refuses local
            paths, runs TRL's own script pinned to a release as a uv script (with its dependencies), and passes the
            Hugging Face token as a secret (`$HF_TOKEN`, which the backend resolves), since the job cannot see this
            machine's login.
        billed: a run is billed by the flavor's price per hour (Flavor.price_per_hour, Hugging Face Jobs' prices)
            for as long as it runs, so the server's spending ceiling applies. False: a run costs nothing here.
        keeps_files: what a job writes (its output_dir) stays where the user can read it after the job ends.
            False: the job's filesystem goes with it, and only what the job pushes (to the Hub) is kept.
        poll_seconds: how often a waiting tool asks about a running job: a file read locally, an HTTP call remotely.
        hardware_note: what a flavor means on this backend when it is not a machine of its own (locally: a share of
            this machine), said by list_hardware beside the flavors; None where a flavor is the machine it names.
        label_forbidden: a regex of the characters this backend does not store in a label value (each becomes
            '-'), and label_max the most characters it stores; `spell_label` applies both, so that what a dry run
            shows is what the backend stores and lists by. None: labels are stored as given.

    Example:
        >>> BackendTraits(place="this machine", runs_here=True, billed=False, keeps_files=True, poll_seconds=1.0)
    """

    place: str
    runs_here: bool
    billed: bool
    keeps_files: bool
    poll_seconds: float = 5.0
    hardware_note: str | None = None
    label_forbidden: str | None = None
    label_max: int | None = None

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
