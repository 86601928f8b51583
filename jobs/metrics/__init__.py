"""Training curves from a job: TRL/transformers log lines, or trackio's local store, summarised for a model to read.

Transformers prints one dict per logging step, e.g. (TRL 1.16, values as strings, after a tqdm fragment and '\\r'):

    {'loss': '6.007', 'grad_norm': '3.018', 'learning_rate': '2e-05', ..., 'epoch': '0.0625'}

Older versions print floats (and bare `nan`). The dicts carry no step number, so a log line's step is its ordinal
times `logging_steps` when that is known, and the ordinal otherwise; eval lines are placed by their epoch. Every dict
is read with `ast.literal_eval`, never `eval`.

Nothing here imports numpy or matplotlib: a few hundred points need no more than arithmetic.
"""

from trl_jobs_mcp.jobs.metrics.logs import LogParser, metrics_from_log, parse_log_dict
from trl_jobs_mcp.jobs.metrics.models import Goal, MetricsReport, Series, SeriesSummary, Trend
from trl_jobs_mcp.jobs.metrics.summary import build_report, goal_of, lr_schedule_shape, summarize
from trl_jobs_mcp.jobs.metrics.trackio import default_trackio_dir, read_trackio

__all__ = [
    "Goal", "LogParser", "MetricsReport", "Series", "SeriesSummary", "Trend", "build_report",
    "default_trackio_dir", "goal_of", "lr_schedule_shape", "metrics_from_log",
    "parse_log_dict", "read_trackio", "summarize",
]
