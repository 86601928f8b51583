"""Training curves from a job, summarised for a model to read: the shapes (models.py), TRL/transformers log lines
(logs.py), trackio's local store (trackio.py), the summaries and verdict (summary.py), and a job's curves through a
backend (job.py, imported on its own: it reads the job's command line through recipes/).
"""

from .logs import LogParser, metrics_from_log, parse_log_dict
from .models import Goal, MetricsReport, Series, SeriesSummary, Trend
from .summary import build_report, goal_of, lr_schedule_shape, summarize
from .trackio import default_trackio_dir, read_trackio

__all__ = [
    "Goal", "LogParser", "MetricsReport", "Series", "SeriesSummary", "Trend", "build_report",
    "default_trackio_dir", "goal_of", "lr_schedule_shape", "metrics_from_log",
    "parse_log_dict", "read_trackio", "summarize",
]
