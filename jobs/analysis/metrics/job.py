"""A job's metrics through a backend: its log read a page at a time into a LogParser, or its trackio store, and a
running job's progress taken from the newest lines at every look.

What tools ask of a job's curves (job_metrics, wait_for_job) lives here, so that a tool only shapes the answer.
The progress bar is read from the newest lines because a local log's complete lines come back in their last
state: a line where tqdm drew "10/24" and TRL then wrote a log dict reads as the dict alone, and the bar's current
state lives in the line still being written.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio.to_thread

from ..forecast import eta_text
from .logs import LogParser, eta_seconds
from .rl import judges_loss
from .models import MetricsReport
from ...core.models import InvalidJobSpec
from .trackio import read_trackio
from ...recipes.argv import logging_steps_from_command, trackio_target
from ...recipes.readback import trainer_of

if TYPE_CHECKING:
    from ...backends.base import Backend
    from ...core.models import JobInfo, JobStage

# Lines from the end read at each look for the live progress bar.
NEWEST_LINES = 3


def parser_for(job: JobInfo) -> LogParser:
    """A LogParser that knows the job's `--logging_steps`, when its command says."""
    return LogParser(logging_steps=logging_steps_from_command(job.command))


async def feed_log(backend: Backend, job_id: str, parser: LogParser, *, since: int = 0,
                   pages: int) -> tuple[int, bool]:
    """Feed `parser` the job's log after `since`, a backend's bounded page at a time, for at most `pages` pages.
    Returns the offset reached and whether that is the end of what the log holds now."""
    for _ in range(pages):
        chunk = await backend.logs(job_id, since=since)
        parser.feed(chunk.lines)
        since = chunk.next_since
        if not chunk.truncated or not chunk.lines:
            return since, True
    return since, False


@dataclass
class _Parsed:
    parser: LogParser
    offset: int = 0  # where the next read of the log starts
    report: MetricsReport | None = None  # as of `reported_at`: summarising 100,000 points again costs a second
    reported_at: int = -1


class ParsedLogs:
    """Each job's log as parsed so far, kept between calls and fed from the last offset read, so that a call reads
    only what the log gained since the previous one (job_metrics on a 100 MB log re-read all of it every time:
    22 s and 485 MB). At most `jobs` jobs per backend are kept, the least recently asked dropped first.
    """

    def __init__(self, jobs: int = 16) -> None:
        self.jobs = jobs
        self._kept: weakref.WeakKeyDictionary[Any, OrderedDict[str, _Parsed]] = weakref.WeakKeyDictionary()

    def offset(self, backend: Backend, job_id: str) -> int | None:
        """Where the next read of the job's log will start; None when nothing of it is kept."""
        entry = self._kept.get(backend, {}).get(job_id)
        return entry.offset if entry else None

    async def report(self, backend: Backend, job: JobInfo, *, pages: int) -> tuple[MetricsReport, bool]:
        """The job's report, from its log read up to `pages` pages further; and whether that reached the end."""
        entry, complete = await self._read(backend, job, pages=pages)
        if entry.report is None or entry.reported_at != entry.offset:
            entry.report, entry.reported_at = entry.parser.report(trainer=trainer_of(job)), entry.offset
        # A copy a caller may add to (job_metrics adds the system series) without changing what is kept.
        return entry.report.model_copy(update={"series": dict(entry.report.series)}), complete

    async def _read(self, backend: Backend, job: JobInfo, *, pages: int) -> tuple[_Parsed, bool]:
        kept = self._kept.setdefault(backend, OrderedDict())
        entry = kept.pop(job.id, None) or _Parsed(parser_for(job))  # popped: a concurrent call starts its own
        try:
            entry.offset, complete = await feed_log(backend, job.id, entry.parser, since=entry.offset, pages=pages)
        except InvalidJobSpec:  # the log is shorter than what was read (its middle was cut): read it again
            entry = _Parsed(parser_for(job))
            entry.offset, complete = await feed_log(backend, job.id, entry.parser, pages=pages)
        kept[job.id] = entry
        while len(kept) > self.jobs:
            kept.popitem(last=False)
        return entry, complete


PARSED_LOGS = ParsedLogs()


async def job_report(backend: Backend, job: JobInfo, *, source: Literal["auto", "logs", "trackio"] = "auto",
                     max_pages: int) -> tuple[MetricsReport, list[str]]:
    """The job's curves and notes for a reader, summarised for its trainer: from trackio's local store when the job
    reports to trackio and the store is on this machine (or `source="trackio"`), else from at most `max_pages`
    pages of its log."""
    trainer = trainer_of(job)
    notes: list[str] = []
    report: MetricsReport | None = None
    target = trackio_target(job.command)
    if source != "logs" and (target is not None or source == "trackio"):
        project, run = target or ("huggingface", None)
        report = await anyio.to_thread.run_sync(lambda: read_trackio(project=project, run=run, trainer=trainer))
        if report is None:
            notes.append(f"No trackio store for project {project!r} on this machine; read the job's log instead.")
    if report is None:
        report, complete = await PARSED_LOGS.report(backend, job, pages=max_pages)
        if not complete:
            notes.append(f"The log is longer than {max_pages} pages; the curves stop where the reading did (a next "
                         "call goes on from there).")
    if report.step_unit == "log" and report.series:
        # A command job (run_job) runs no trainer of ours: its own script decides what and how often it logs.
        notes.append("Steps count log lines until the run ends (pass --logging_steps to the job for real steps)."
                     if trainer else "Steps count the metrics lines the command printed: its own script decides "
                                     "what it logs and how often.")
    return report, notes


class JobWatch:
    """A job's log read incrementally from its start, so that steps and the curves stay right while it runs.

    Args:
        backend: where the job runs.
        job: the job as first inspected (its command gives logging_steps and the trainer).
        pages_per_read: at most this many pages of the log per `read`, to catch up with a long log.
    """

    def __init__(self, backend: Backend, job: JobInfo, *, pages_per_read: int) -> None:
        self.backend = backend
        self.job_id = job.id
        self.trainer = trainer_of(job)
        self.parser = parser_for(job)
        self.position = 0
        self.pages_per_read = pages_per_read

    async def read(self) -> None:
        """Catch up with the log, then look at its newest lines for the progress bar."""
        self.position, _ = await feed_log(self.backend, self.job_id, self.parser, since=self.position,
                                          pages=self.pages_per_read)
        newest = await self.backend.logs(self.job_id, tail=NEWEST_LINES)
        self.parser.observe_progress(newest.lines)

    def report(self) -> MetricsReport:
        return self.parser.report(trainer=self.trainer)

    def progress(self, stage: JobStage) -> tuple[str, int | None, float | None]:
        """("RUNNING, step 40/100, loss 1.82", the step reached, the newest finite training loss).

        The step is the furthest of the progress bar and the last logged step; the text names the newest value of
        what the trainer's verdict leads with (the loss, or the reward for GRPO and RLOO).
        """
        report = self.report()
        step = report.last_step if report.step_unit == "step" else None
        if self.parser.progress is not None and (step is None or self.parser.progress > step):
            step = self.parser.progress

        def newest(name: str | None) -> float | None:
            finite = [v for v in report.series[name].values if v is not None] if name in report.series else []
            return finite[-1] if finite else None

        parts = [stage.value]
        if step is not None:
            parts.append(f"step {step}" + (f"/{report.total_steps}" if report.total_steps else ""))
        lead = newest(report.main)
        if lead is not None:
            parts.append(f"{report.main} {lead:.4g}")
        eta = eta_seconds(self.parser) if stage.value == "RUNNING" else None
        if eta is not None:
            parts.append(eta_text(*eta))
        # GRPO's and RLOO's loss sits near zero by design: never the figure a headline gives.
        return ", ".join(parts), step, newest("loss") if judges_loss(self.trainer) else None
