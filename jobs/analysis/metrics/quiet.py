"""A running job that is quiet and idle: no log output and no work (CPU, or GPU where it has one) for a while, read
from the samples its supervisor kept. Said by inspect_job before any idle guard acts, so that a job waiting on
nothing (a prompt, a dead data loader, `sleep`) is seen before it has billed its whole timeout."""

from __future__ import annotations

from .system import SystemMetrics

# The idle guard's floors (supervisor/sampler.py): under these a process is asleep.
IDLE_CPU_PCT = 5.0
IDLE_GPU_PCT = 5.0
# Quiet this long before it is worth saying: a training step, a checkpoint or a download is often that silent.
QUIET_SECONDS = 60.0


def quiet_for(metrics: SystemMetrics) -> tuple[float, float] | None:
    """(seconds the job has been quiet and idle, its mean CPU % then), from the newest samples back to the last one
    where its log grew or it worked; None when it is not (or the samples do not say: no log sizes)."""
    samples = [s for s in metrics.samples if s.log_bytes is not None]
    if len(samples) < 2:
        return None
    last = samples[-1]
    start = last
    for sample in reversed(samples[:-1]):
        busy_gpu = any((g.util_pct or 0) >= IDLE_GPU_PCT for g in sample.gpus)
        if sample.log_bytes != last.log_bytes or busy_gpu or (sample.cpu_pct or 0) >= IDLE_CPU_PCT:
            break
        start = sample
    if any((g.util_pct or 0) >= IDLE_GPU_PCT for g in last.gpus) or (last.cpu_pct or 0) >= IDLE_CPU_PCT:
        return None
    span = last.t - start.t
    window = [s for s in samples if s.t >= start.t]
    cpu = sum(s.cpu_pct or 0 for s in window) / len(window)
    return (span, cpu) if span >= QUIET_SECONDS else None


def quiet_note(metrics: SystemMetrics) -> str | None:
    """'Quiet and idle for 4m: no log output and 0.1% CPU ...' with what to do, or None."""
    found = quiet_for(metrics)
    if found is None:
        return None
    span, cpu = found
    minutes = f"{span / 60:.0f} min" if span >= 90 else f"{span:.0f} s"
    return (f"Quiet and idle for {minutes}: no log output and {cpu:.1f}% CPU (no GPU work). It may wait on nothing "
            "useful (input, a lock, a dead data loader, a sleep). Its idle guard, if set at launch, stops it once "
            "quiet for its idle_timeout; otherwise it runs until its timeout. Read fetch_logs, then cancel_job if "
            "it is stuck.")
