"""A job's system metrics (CPU, memory, each GPU's use and memory), as samples, curves and a summary.

Where they come from is the backend's business (Backend.system_metrics): on this machine the job's supervisor
samples its processes and nvidia-smi into the job's folder for the whole run; Hugging Face streams one sample a
second while a job runs, with no history, so a read there holds the few seconds it listened.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from .models import Series

GB = 1e9
# Under this mean GPU use a run is called out: the GPU mostly waits for the next batch.
LOW_GPU_PCT = 20.0
# A GPU holding less than this is not in use yet (the model is still loading): its samples don't count toward use.
_LOADED_BYTES = 0.5e9


class GpuSample(BaseModel):
    gpu: str = Field(description="the GPU's index (here) or id (Hugging Face)")
    util_pct: float | None = None
    memory_gb: float | None = None
    memory_total_gb: float | None = None


class SystemSample(BaseModel):
    t: float = Field(description="seconds since the first sample")
    cpu_pct: float | None = Field(default=None, description="here: percent of one core; Hugging Face: its figure")
    memory_gb: float | None = None
    memory_total_gb: float | None = None
    gpus: list[GpuSample] = Field(default_factory=list)


class SystemMetrics(BaseModel):
    """What a backend could see of a job's system use."""

    source: Literal["supervisor", "hub stream", "none"]
    samples: list[SystemSample] = Field(default_factory=list)
    note: str | None = Field(default=None, description="why there are few or none")


class SystemSummary(BaseModel):
    samples: int
    span_s: float
    mean_cpu_pct: float | None = None
    peak_memory_gb: float | None = None
    gpus: int = 0
    mean_gpu_util_pct: float | None = Field(default=None, description="over every GPU, once it holds the model")
    peak_gpu_memory_gb: float | None = Field(default=None, description="the fullest GPU at its fullest")
    gpu_memory_total_gb: float | None = None
    low_gpu_use: bool = Field(default=False, description=f"mean GPU use under {LOW_GPU_PCT:g}%")
    text: str = ""


def from_supervisor(lines: Iterable[str]) -> SystemMetrics:
    """The local supervisor's JSON lines (supervisor/sampler.py's `record`) as samples; unreadable lines are skipped."""
    samples, t0 = [], None
    for line in lines:
        try:
            raw = json.loads(line)
            t = float(raw["t"])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a crash
        t0 = t if t0 is None else t0
        samples.append(SystemSample(
            t=round(t - t0, 1), cpu_pct=raw.get("cpu"), memory_gb=(raw.get("rss") or 0) / GB,
            gpus=[GpuSample(gpu=str(g.get("index")), util_pct=g.get("util"), memory_gb=(g.get("mem") or 0) / GB,
                            memory_total_gb=(g.get("total") or 0) / GB) for g in raw.get("gpus") or []]))
    return SystemMetrics(source="supervisor" if samples else "none", samples=samples)


def from_hub(events: Iterable[tuple[float, Mapping[str, Any]]], *, note: str | None = None) -> SystemMetrics:
    """Hugging Face's metric events (fetch_job_metrics), each with the time it arrived, as samples."""
    samples, t0 = [], None
    for at, event in events:
        t0 = at if t0 is None else t0
        gpus = event.get("gpus") or {}
        samples.append(SystemSample(
            t=round(at - t0, 1), cpu_pct=event.get("cpu_usage_pct"),
            memory_gb=_gb(event.get("memory_used_bytes")), memory_total_gb=_gb(event.get("memory_total_bytes")),
            gpus=[GpuSample(gpu=str(key), util_pct=g.get("utilization"), memory_gb=_gb(g.get("memory_used_bytes")),
                            memory_total_gb=_gb(g.get("memory_total_bytes")))
                  for key, g in gpus.items() if isinstance(g, Mapping)]))
    return SystemMetrics(source="hub stream" if samples else "none", samples=samples, note=note)


def _gb(value: Any) -> float | None:
    return float(value) / GB if isinstance(value, int | float) and not isinstance(value, bool) else None


def system_series(metrics: SystemMetrics) -> dict[str, Series]:
    """Curves over seconds: system/cpu_pct, system/memory_gb, and system/gpu<N>_util_pct, system/gpu<N>_memory_gb."""
    out: dict[str, Series] = {}

    def add(name: str, t: float, value: float | None) -> None:
        if value is not None:
            series = out.setdefault(name, Series(name=name))
            series.steps.append(int(t))
            series.values.append(round(value, 3))

    for sample in metrics.samples:
        add("system/cpu_pct", sample.t, sample.cpu_pct)
        add("system/memory_gb", sample.t, sample.memory_gb)
        for gpu in sample.gpus:
            add(f"system/gpu{gpu.gpu}_util_pct", sample.t, gpu.util_pct)
            add(f"system/gpu{gpu.gpu}_memory_gb", sample.t, gpu.memory_gb)
    return out


def summarize_system(metrics: SystemMetrics) -> SystemSummary:
    """Means and peaks, and a call-out for a GPU run that keeps its GPUs mostly waiting."""
    samples = metrics.samples
    if not samples:
        return SystemSummary(samples=0, span_s=0.0, text=metrics.note or "No system samples.")
    cpu = [s.cpu_pct for s in samples if s.cpu_pct is not None]
    memory = [s.memory_gb for s in samples if s.memory_gb is not None]
    gpus = {g.gpu for s in samples for g in s.gpus}
    used = [g.util_pct for s in samples for g in s.gpus
            if g.util_pct is not None and (g.memory_gb or 0) * GB >= _LOADED_BYTES]
    gpu_memory = [g.memory_gb for s in samples for g in s.gpus if g.memory_gb is not None]
    totals = [g.memory_total_gb for s in samples for g in s.gpus if g.memory_total_gb]
    summary = SystemSummary(
        samples=len(samples), span_s=samples[-1].t, gpus=len(gpus),
        mean_cpu_pct=round(sum(cpu) / len(cpu), 1) if cpu else None,
        peak_memory_gb=round(max(memory), 2) if memory else None,
        mean_gpu_util_pct=round(sum(used) / len(used), 1) if used else None,
        peak_gpu_memory_gb=round(max(gpu_memory), 2) if gpu_memory else None,
        gpu_memory_total_gb=round(max(totals), 1) if totals else None)
    parts = [f"{len(samples)} system samples over {samples[-1].t:g}s"]
    if summary.mean_cpu_pct is not None:
        parts.append(f"CPU {summary.mean_cpu_pct:g}% on average")
    if summary.peak_memory_gb is not None:
        parts.append(f"memory peak {summary.peak_memory_gb:g} GB")
    if gpus:
        use = "no use yet (no GPU holds the model)" if summary.mean_gpu_util_pct is None else (
            f"{summary.mean_gpu_util_pct:g}% use on average")
        of = f" of {summary.gpu_memory_total_gb:g}" if summary.gpu_memory_total_gb else ""
        parts.append(f"{len(gpus)} GPU{'s' if len(gpus) > 1 else ''}: {use}, memory peak "
                     f"{summary.peak_gpu_memory_gb or 0:g}{of} GB")
    text = "; ".join(parts) + "."
    if summary.mean_gpu_util_pct is not None and summary.mean_gpu_util_pct < LOW_GPU_PCT:
        summary.low_gpu_use = True
        text += (f" GPU use is under {LOW_GPU_PCT:g}%: the GPU mostly waits. Likely causes: batches too small for it "
                 "(raise per_device_train_batch_size, or set packing=true), or data loading (pre-tokenize, set "
                 "dataloader_num_workers); else a smaller flavor would do the same work for less.")
    if metrics.note:
        text += f" {metrics.note}"
    summary.text = text
    return summary
