"""A job seen as a task: its status, the line a person reads while it runs, its lifetime and polling pace, and the
answer of a launch once the job has ended. Pure functions of the job (and its log, read through the Backend
protocol), so that any server on the same home says the same thing about the same task.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
from mcp_types import CallToolResult, TextContent

from ..jobs.core.flavors import CATALOG
from ..jobs.core.models import JobInfo, JobsError, JobStage
from ..tools.base import human_duration, next_call, usd

if TYPE_CHECKING:
    # Imported where used: the log parser and the diagnosis are needed at the first task, not at start-up.
    from ..jobs.backends.base import Backend
    from ..jobs.analysis.diagnose import Diagnosis
    from ..jobs.analysis.metrics import LogParser, MetricsReport

# How long a task stays readable after its job ended. The job itself stays on its backend as long as the backend
# keeps it; only the task (the background call in the client) is forgotten.
RETENTION_SECONDS = 7 * 86400
# While a job waits for a slot or starts, its stage changes within seconds; a long run changes slowly, and on a
# remote backend each poll costs HTTP calls, so the pace stretches to a thirtieth of the time it has run.
MIN_POLL_SECONDS = 2.0
MAX_POLL_SECONDS = 60.0
# Seconds of log reading per poll, checked between pages, so that catching up on a long log (after a restart) cannot
# hold a tasks/get for long: many pages of a local file, one page of a remote stream (each is a bounded read of
# seconds on Hugging Face). The final answer, made once, may read longer.
READ_BUDGET_SECONDS = 1.0
FINAL_READ_BUDGET_SECONDS = 15.0


def iso(moment: datetime | None) -> str:
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ts(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def ran_seconds(job: JobInfo, now: float) -> float | None:
    """Seconds the job has run (until it ended, or until now); None before it started."""
    started = _ts(job.started_at)
    if started is None:
        return None
    end = _ts(job.finished_at) if job.finished else now
    return max(0.0, (end or now) - started)


def ttl_ms(job: JobInfo, now: float) -> int:
    """From the task's creation: until the job's timeout could end it (or until it ended), plus the retention."""
    created = _ts(job.created_at) or now
    if job.finished:
        end = _ts(job.finished_at) or now
    else:
        end = (_ts(job.started_at) or now) + (job.timeout or 0)
    return int((max(end, now if not job.finished else end) - created + RETENTION_SECONDS) * 1000)


def expired(job: JobInfo, now: float) -> bool:
    created = _ts(job.created_at)
    return job.finished and created is not None and now > created + ttl_ms(job, now) / 1000


def poll_interval_ms(job: JobInfo, now: float) -> int:
    running = ran_seconds(job, now) if job.stage == JobStage.RUNNING else None
    seconds = MIN_POLL_SECONDS if running is None else min(MAX_POLL_SECONDS, max(MIN_POLL_SECONDS, running / 30))
    return round(seconds) * 1000  # whole seconds: a pace, not a measurement


def cost_usd(job: JobInfo, now: float) -> float | None:
    """What the run has cost so far at its flavor's price, billed per started minute as Hugging Face bills."""
    flavor = CATALOG.get(job.flavor or "")
    seconds = ran_seconds(job, now)
    if flavor is None or seconds is None:
        return None
    return flavor.price_per_hour * math.ceil(seconds / 60) / 60


@dataclass
class Progress:
    """A job's log read incrementally from its start (the parser needs all of it for steps and the loss curve)."""

    parser: LogParser
    trainer: str | None = None
    position: int = 0
    complete: bool = False
    last_message: str | None = None
    changed_at: float = field(default=0.0)
    # Two polls of one task at once (HTTP serves requests concurrently) must not feed the same lines twice.
    lock: anyio.Lock = field(default_factory=anyio.Lock)

    @classmethod
    def of(cls, job: JobInfo) -> Progress:
        from ..jobs.analysis.metrics.job import parser_for
        from ..jobs.recipes.readback import trainer_of

        return cls(parser=parser_for(job), trainer=trainer_of(job))

    async def read(self, backend: Backend, job_id: str, *, budget: float = READ_BUDGET_SECONDS) -> None:
        """Feed the parser what the log holds after what was read, a page at a time, until the end or `budget`."""
        async with self.lock:
            await self._read(backend, job_id, budget)

    async def _read(self, backend: Backend, job_id: str, budget: float) -> None:
        deadline = time.monotonic() + budget
        while True:
            chunk = await backend.logs(job_id, since=self.position)
            self.parser.feed(chunk.lines)
            self.position = chunk.next_since
            self.complete = not chunk.truncated or not chunk.lines
            if self.complete or time.monotonic() > deadline:
                break
        # The live progress bar is in the line still being written, which a complete line no longer shows.
        from ..jobs.analysis.metrics.job import NEWEST_LINES

        self.parser.observe_progress((await backend.logs(job_id, tail=NEWEST_LINES)).lines)

    def report(self) -> MetricsReport:
        return self.parser.report(trainer=self.trainer)

    def eta(self) -> str:
        """'ETA 4m (1.2 s/step measured)' from this run's progress bar; '' before a step is done."""
        from ..jobs.analysis.forecast import eta_text
        from ..jobs.analysis.metrics.logs import eta_seconds

        eta = eta_seconds(self.parser)
        return eta_text(*eta) if eta else ""

    def step_and_loss(self) -> tuple[int | None, int | None, str | None]:
        """The step reached (None when the log does not show it), the total, and the latest loss as "loss 1.23".

        A progress bar rewritten in place comes back from a backend as its last state, which between two logged
        losses is often the bar before training started ("0/40"); such a 0 says nothing, so it is not shown.
        """
        report = self.report()
        step = report.last_step if report.step_unit == "step" else None
        if self.parser.progress and (step is None or self.parser.progress > step):
            step = self.parser.progress  # the progress bar runs ahead of the logged loss
        loss = None
        if report.main and report.series[report.main].values and report.series[report.main].values[-1] is not None:
            loss = f"{report.main} {report.series[report.main].values[-1]:.4g}"
        return step, report.total_steps, loss


def money(job: JobInfo, now: float, *, bills: bool, place: str = "this machine", suffix: str = "") -> str:
    """What the run has cost so far when the backend bills; else that it is free where it runs (`place`, the
    backend's traits.place: "this machine", "the Ray cluster at ...")."""
    if not bills:
        return f"no charge ({place})"
    cost = cost_usd(job, now)
    return f"{usd(cost)}{suffix}" if cost is not None else ""


def status_message(job: JobInfo, progress: Progress | None, now: float, *, bills: bool,
                   place: str = "this machine") -> str:
    """"RUNNING, step 120/500, loss 1.23, 14m, $0.58 so far" while it runs; the stage and message once it ended."""
    if job.stage == JobStage.SCHEDULING:
        return f"SCHEDULING on {job.flavor}: waiting for the job to start" if job.flavor else "SCHEDULING"
    if job.stage == JobStage.RUNNING:
        parts = ["RUNNING"]
        if progress is not None:
            step, total, loss = progress.step_and_loss()
            if step is not None:
                parts.append(f"step {step}" + (f"/{total}" if total else ""))
            elif total:
                parts.append(f"{total} steps")
            if loss:
                parts.append(loss)
            parts.append(progress.eta())
        parts.append(human_duration(ran_seconds(job, now)))
        parts.append(money(job, now, bills=bills, place=place, suffix=" so far"))
        return ", ".join(p for p in parts if p)
    ran = ran_seconds(job, now)
    tail = f" after {human_duration(ran)}" if ran is not None else ""
    return f"{job.stage.value}{tail}" + (f": {job.message}" if job.message else "")


async def diagnosis_of(backend: Backend, job: JobInfo) -> Diagnosis | None:
    from ..jobs.analysis.diagnose import TAIL_LINES, diagnose

    if job.stage != JobStage.ERROR:
        return None
    try:
        tail = (await backend.logs(job.id, tail=TAIL_LINES)).lines
    except JobsError:
        tail = []  # the diagnosis is a bonus: the job itself was read
    return diagnose(lines=tail, message=job.message, exit_code=job.exit_code)


def launch_result(job: JobInfo, report: MetricsReport, diagnosis: Diagnosis | None, launched: dict[str, Any],
                  now: float, *, bills: bool, place: str = "this machine") -> CallToolResult:
    """The answer of launch_training or run_job once its job has ended: the final stage, where the results are,
    the loss in a sentence, the cost, and for ERROR the likely cause (then isError, as the spec wants a tool's
    failure told: a completed task whose result is an error, not a failed task).

    `launched` is what the tool answered when it started the job (its structured content), updated here with the
    final stage, so that the result still matches the tool's output schema.
    """
    ran = ran_seconds(job, now)
    what = f"Job {job.id}" + (f" ({job.labels['trainer']})" if job.labels.get("trainer") else "")
    where = f" on {job.flavor}" if job.flavor else ""
    spent = money(job, now, bills=bills, place=place)
    if bills and spent:
        flavor = CATALOG.get(job.flavor or "")
        spent = f"cost {spent}" + (f" ({_minutes(ran)} at {usd(flavor.price_per_hour)}/h)"
                                   if flavor else "")
    lines: list[str] = []
    if job.stage == JobStage.COMPLETED:
        lines.append(f"{what} COMPLETED{where} in {human_duration(ran)}; {spent}.")
        if job.output_dir:
            lines.append(f"The trained model and its README.md model card are in {job.output_dir}."
                         if job.labels.get("trainer") else f"Its output folder is {job.output_dir}.")
    else:
        lines.append(f"{what} ended in {job.stage.value}{where} after {human_duration(ran)}"
                     + (f": {job.message}" if job.message else "")
                     + (f" (exit code {job.exit_code})" if job.exit_code is not None
                        and str(job.exit_code) not in (job.message or "") else "") + f"; {spent}.")
        if diagnosis is not None:
            lines.append(f"Likely cause: {diagnosis.text}")
    if bills:
        # On a billed backend the launch's notes say where results go when the container is gone (push_to_hub).
        lines += [note for note in launched.get("notes", []) if isinstance(note, str)]
    if report.series:
        lines.append(f"Metrics: {report.text}")
    if job.url:
        lines.append(f"Page: {job.url}")
    if job.stage == JobStage.COMPLETED:
        lines.append(f"{next_call('job_metrics', job_id=job.id)} for the loss curve and a plot, or "
                     f"{next_call('fetch_logs', job_id=job.id, tail=50).removeprefix('Call ')} for the end of its log.")
    else:
        lines.append(f"{next_call('fetch_logs', job_id=job.id, tail=100)} to read why it stopped, then fix the "
                     "arguments and launch again.")
    structured = {**launched, "job_id": job.id, "stage": job.stage.value, "finished": True,
                  "runtime_seconds": ran, "cost_usd": round(cost_usd(job, now) or 0.0, 4) if bills else 0.0,
                  "message": job.message, "exit_code": job.exit_code, "metrics": report.text if report.series else None,
                  "diagnosis": diagnosis.model_dump(mode="json") if diagnosis else None}
    if job.output_dir and "output_dir" in launched:
        structured["output_dir"] = job.output_dir
    return CallToolResult(content=[TextContent(type="text", text="\n".join(lines))], structured_content=structured,
                          is_error=job.stage != JobStage.COMPLETED)


def _minutes(seconds: float | None) -> str:
    count = math.ceil((seconds or 0) / 60)
    return f"{count} billed minute" + ("" if count == 1 else "s")
