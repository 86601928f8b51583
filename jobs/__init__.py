"""The engine, with no MCP in it, one folder a concern:

- core/: the vocabulary (JobSpec, JobInfo, JobStage, errors), flavors, secret scrubbing, the idle guard's words;
- recipes/: TRL trainers -> JobSpec, the only place that knows TRL's command line;
- backends/: the Backend protocol (base.py) and local/, hf/, ray/, none of which imports another;
- supervisor/: the process supervisor that the local and Ray backends both run beside a job;
- analysis/: metrics and summaries, plots, diagnosis, memory estimates, cost;
- extras/: uploads, schedules and reruns.
"""
