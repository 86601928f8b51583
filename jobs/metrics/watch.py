"""A running job's log read as it grows: its curves fed once and in order, and its progress taken from the newest
lines at every look (the live progress bar included, which a finished line no longer shows).

Why both: a local log's complete lines come back in their last state, so a line where tqdm drew "10/24" and then
TRL wrote a log dict reads as the dict alone; the bar's current state lives in the line still being written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trl_jobs_mcp.jobs.metrics.command import logging_steps_from_command
from trl_jobs_mcp.jobs.metrics.logs import LogParser
from trl_jobs_mcp.jobs.metrics.models import MetricsReport
from trl_jobs_mcp.jobs.models import JobInfo, JobStage
from trl_jobs_mcp.jobs.recipes.readback import trainer_of

if TYPE_CHECKING:
    from trl_jobs_mcp.jobs.backends.base import Backend

# Lines from the end read at each look for the live progress bar.
NEWEST_LINES = 3


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


class JobWatch:
    """One job's log, read incrementally from its start so that steps and curves stay right."""

    def __init__(self, backend: Backend, info: JobInfo, *, pages_per_read: int = 50) -> None:
        self.backend = backend
        self.job_id = info.id
        self.trainer = trainer_of(info)
        self.parser = LogParser(logging_steps=logging_steps_from_command(info.command))
        self.position = 0
        self.pages = pages_per_read

    async def read(self) -> None:
        """Catch up with the log, then look at its newest lines for the progress bar."""
        self.position, _ = await feed_log(self.backend, self.job_id, self.parser, since=self.position,
                                          pages=self.pages)
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
        return ", ".join(parts), step, newest("loss")
