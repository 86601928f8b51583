"""The hardware catalog: every Hugging Face Jobs flavor with its CPU, memory, GPU and hourly price.

The numbers are the Hub's own "Jobs pricing" page (https://huggingface.co/docs/hub/jobs-pricing), and the names are
`huggingface_hub.JobHardware`'s values; a test fails when a `huggingface_hub` upgrade adds a flavor we lack. The
Hugging Face backend can refresh prices live with `from_hub_hardware` (from `list_jobs_hardware()`); the local
backend uses this table as it is and marks what this machine can run (`local_gpu_count`).
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
import subprocess
from typing import Any

from pydantic import BaseModel, Field

from .errors import InvalidJobSpec, JobsError


class Flavor(BaseModel):
    name: str = Field(description="the Jobs flavor id, e.g. 'a10g-large'")
    pretty_name: str
    cpu: int = Field(description="vCPUs")
    ram_gb: float
    gpu: str | None = Field(default=None, description="GPU model, e.g. 'A100'; None for CPU flavors")
    gpu_count: int = 0
    vram_gb: float = Field(default=0, description="GPU memory in total, over all GPUs")
    price_per_hour: float = Field(description="USD")
    runnable: bool | None = Field(default=None, description="whether the current backend can run it; None if unknown")

    @property
    def is_gpu(self) -> bool:
        return self.gpu_count > 0

    @property
    def vram_per_gpu_gb(self) -> float:
        """The memory of one GPU (0 for CPU flavors): what a job that does not shard its model can use."""
        return self.vram_gb / self.gpu_count if self.gpu_count else 0.0

    def cost(self, seconds: float) -> float:
        """What a run of `seconds` on this flavor is billed (see billed_cost)."""
        return billed_cost(self.price_per_hour, seconds)


def billed_cost(price_per_hour: float, seconds: float) -> float:
    """USD that Hugging Face bills for `seconds` of a flavor priced `price_per_hour`: per started minute.

    The one billing rule of the project: ceilings, estimates and "cost so far" all go through it, so a figure we
    show is the figure on the bill. A run is charged by the minute, every started minute in full (a 61 s run is two
    minutes); no time costs nothing. The price comes from list_jobs_hardware when the Hub answered (its prices are
    per minute), else from the table below.

    Example:
        >>> billed_cost(2.5, 61)  # two minutes of a100-large
        0.08333333333333333
    """
    if not seconds or seconds <= 0 or not price_per_hour:
        return 0.0
    # The tolerance keeps 1800.0000001 s (float noise from a "30m" timeout) at 30 minutes, not 31.
    minutes = math.ceil(seconds / 60 - 1e-6)
    return price_per_hour * minutes / 60


# From https://huggingface.co/docs/hub/jobs-pricing. CPU flavors first, then GPU flavors by price; VRAM is the
# total over all GPUs, as the page gives it. Billing is per minute, so a price per hour is exact to the minute.
_TABLE: tuple[tuple[str, str, int, float, str | None, int, float, float], ...] = (
    # name              pretty name                vCPU  RAM GB  GPU             GPUs  VRAM GB  USD/hour
    ("cpu-basic",       "CPU Basic",                  2,    16,  None,             0,       0,   0.01),
    ("cpu-upgrade",     "CPU Upgrade",                8,    32,  None,             0,       0,   0.03),
    ("cpu-xl",          "CPU XL",                    16,   124,  None,             0,       0,   1.00),
    ("cpu-performance", "CPU Performance",           32,   256,  None,             0,       0,   1.90),
    ("t4-small",        "Nvidia T4 - small",          4,    15,  "T4",             1,      16,   0.40),
    ("t4-medium",       "Nvidia T4 - medium",         8,    30,  "T4",             1,      16,   0.60),
    ("l4x1",            "1x Nvidia L4",               8,    30,  "L4",             1,      24,   0.80),
    ("a10g-small",      "Nvidia A10G - small",        4,    15,  "A10G",           1,      24,   1.00),
    ("a10g-large",      "Nvidia A10G - large",       12,    46,  "A10G",           1,      24,   1.50),
    ("l40sx1",          "1x Nvidia L40S",             8,    62,  "L40S",           1,      48,   1.80),
    ("a100-large",      "Nvidia A100 - large",       12,   142,  "A100",           1,      80,   2.50),
    ("rtx-pro-6000",    "Nvidia RTX PRO 6000",       23,   256,  "RTX PRO 6000",   1,      96,   2.75),
    ("a10g-largex2",    "2x Nvidia A10G - large",    24,    92,  "A10G",           2,      48,   3.00),
    ("l4x4",            "4x Nvidia L4",              48,   186,  "L4",             4,      96,   3.80),
    ("h200",            "Nvidia H200",               23,   256,  "H200",           1,     141,   5.00),
    ("a10g-largex4",    "4x Nvidia A10G - large",    48,   184,  "A10G",           4,      96,   5.00),
    ("rtx-pro-6000x2",  "2x Nvidia RTX PRO 6000",    46,   512,  "RTX PRO 6000",   2,     192,   5.50),
    ("l40sx4",          "4x Nvidia L40S",            48,   382,  "L40S",           4,     192,   8.30),
    ("h200x2",          "2x Nvidia H200",            46,   512,  "H200",           2,     282,  10.00),
    ("a100x4",          "4x Nvidia A100 - large",    48,   568,  "A100",           4,     320,  10.00),
    ("rtx-pro-6000x4",  "4x Nvidia RTX PRO 6000",    92,  1024,  "RTX PRO 6000",   4,     384,  11.00),
    ("h200x4",          "4x Nvidia H200",            92,  1024,  "H200",           4,     564,  20.00),
    ("a100x8",          "8x Nvidia A100 - large",    96,  1136,  "A100",           8,     640,  20.00),
    ("rtx-pro-6000x8",  "8x Nvidia RTX PRO 6000",   184,  2048,  "RTX PRO 6000",   8,     768,  22.00),
    ("l40sx8",          "8x Nvidia L40S",           192,  1534,  "L40S",           8,     384,  23.50),
    ("h200x8",          "8x Nvidia H200",           184,  2048,  "H200",           8,    1128,  40.00),
)

# Peak dense bf16 tensor throughput (TFLOPS) and memory bandwidth (GB/s) of one GPU, from the vendors' data sheets
# (A10G: AWS's figures; T4 has no bf16, its fp16 figure). The forecast's first guess rests on them (jobs.forecast).
GPU_PEAKS: dict[str, tuple[float, float]] = {
    "T4": (65, 320), "L4": (121, 300), "A10G": (70, 600), "L40S": (362, 864), "A100": (312, 2039),
    "RTX PRO 6000": (504, 1792), "H200": (989, 4800),
}
# A CPU flavor's figures per vCPU: fp32 FMA at about 2.5 GHz with AVX2 (32 flops a cycle), and a share of a socket's
# memory bandwidth. Only a first guess: the local backend's forecasts are calibrated from this machine's runs.
CPU_PEAK_GFLOPS_PER_VCPU = 80.0
CPU_BANDWIDTH_GBS_PER_VCPU = 5.0


def peak_figures(flavor: Flavor) -> tuple[float, float]:
    """(peak FLOP/s, memory bytes/s) of the whole flavor: every GPU, or its vCPUs for a CPU flavor; a GPU model
    missing from GPU_PEAKS counts as an A10G (the slowest of the common ones after T4 and L4)."""
    if not flavor.is_gpu:
        return flavor.cpu * CPU_PEAK_GFLOPS_PER_VCPU * 1e9, flavor.cpu * CPU_BANDWIDTH_GBS_PER_VCPU * 1e9
    tflops, bandwidth = GPU_PEAKS.get(flavor.gpu or "", GPU_PEAKS["A10G"])
    return flavor.gpu_count * tflops * 1e12, flavor.gpu_count * bandwidth * 1e9


CATALOG: dict[str, Flavor] = {
    name: Flavor(name=name, pretty_name=pretty, cpu=cpu, ram_gb=ram, gpu=gpu, gpu_count=count, vram_gb=vram,
                 price_per_hour=price)
    for name, pretty, cpu, ram, gpu, count, vram, price in _TABLE
}


def get_flavor(name: str) -> Flavor:
    """The flavor of that name (case and surrounding spaces ignored), as a copy the caller may change.

    Raises:
        InvalidJobSpec: field "flavor", naming the closest known names and how to list them all.

    Example:
        >>> get_flavor("a10g-large").vram_gb
        24.0
    """
    key = name.strip().lower() if isinstance(name, str) else None
    if key in CATALOG:
        return CATALOG[key].model_copy()
    close = difflib.get_close_matches(key or "", list(CATALOG), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise InvalidJobSpec(f"unknown flavor {name!r}.{hint} Call list_hardware to see every flavor with its GPU, "
                         f"memory and price.", field="flavor")


def all_flavors() -> list[Flavor]:
    """Every flavor in catalog order (CPU first, then GPU by price), as copies the caller may change."""
    return [flavor.model_copy() for flavor in CATALOG.values()]


# --- what this machine has ---

LOCAL_GPUS_ENV = "TRL_JOBS_LOCAL_GPUS"
# A wedged driver can make nvidia-smi hang; a healthy one answers in well under a second.
NVIDIA_SMI_TIMEOUT_S = 10.0


def local_gpu_count() -> int:
    """The number of NVIDIA GPUs on this machine, found without importing torch.

    `TRL_JOBS_LOCAL_GPUS` (a whole number >= 0), when set, is the answer, so tests and users can say what to use.
    Otherwise `nvidia-smi -L` is asked once per process; no driver, a failure or a hang counts as no GPU.

    Raises:
        JobsError: TRL_JOBS_LOCAL_GPUS is set but is not a whole number >= 0.
    """
    override = os.environ.get(LOCAL_GPUS_ENV)
    if override is not None and override.strip():
        try:
            count = int(override)
        except ValueError:
            count = -1
        if count < 0:
            raise JobsError(f"{LOCAL_GPUS_ENV}={override!r} is not a number of GPUs; set it to 0 or more, or unset "
                            f"it to detect the GPUs with nvidia-smi.")
        return count
    return _detected_gpu_count()


@functools.cache
def _detected_gpu_count() -> int:
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return 0
    if out.returncode != 0:
        return 0
    return sum(1 for line in out.stdout.splitlines() if re.match(r"GPU \d+:", line.strip()))


# --- live prices from the Hub ---

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?)?\s*$", re.IGNORECASE)
_GB_PER_UNIT = {"k": 1e-6, "m": 1e-3, "g": 1.0, "t": 1e3, "ki": 1024 / 1e9, "mi": 1024**2 / 1e9,
                "gi": 1024**3 / 1e9, "ti": 1024**4 / 1e9}
_PER_HOUR = {"second": 3600, "minute": 60, "hour": 1}


def _size_gb(value: Any, *, what: str) -> float:
    """'16 GB', '16GB', '1.5 TB', '24 GiB' or a bare number (taken as GB) -> GB (10^9 bytes)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _SIZE_RE.match(str(value or ""))
    if not match:
        raise ValueError(f"cannot read {what} {value!r} as a size such as '16 GB'")
    unit = (match.group(2) or "G").lower().removesuffix("b") or "g"
    return float(match.group(1)) * _GB_PER_UNIT[unit]


def _leading_int(value: Any, *, what: str) -> int:
    match = re.match(r"\s*(\d+)", str(value if value is not None else ""))
    if not match:
        raise ValueError(f"cannot read {what} {value!r} as a count such as '8 vCPU'")
    return int(match.group(1))


def from_hub_hardware(info: Any) -> Flavor:
    """A Flavor from a `huggingface_hub.JobHardwareInfo` (what `list_jobs_hardware()` returns).

    The API writes sizes as strings ("2 vCPU", "16 GB") and prices per unit ("minute" today); this reads them
    into numbers and a price per hour. The accelerator's `vram` is the total over all GPUs (huggingface_hub's
    documentation); were it per GPU, the flavor would only look smaller than it is, which errs on the safe side.

    Raises:
        ValueError: a size, count or price unit that cannot be read (the message names the flavor and field).
    """
    name = str(info.name)
    try:
        accelerator = getattr(info, "accelerator", None)
        gpu_count = _leading_int(accelerator.quantity, what="accelerator quantity") if accelerator else 0
        unit = str(info.unit_label or "minute").strip().lower().removeprefix("per ").rstrip("s")
        if unit not in _PER_HOUR:
            raise ValueError(f"unknown price unit {info.unit_label!r} (expected minute or hour)")
        if info.unit_cost_usd is not None:
            unit_cost = float(info.unit_cost_usd)
        else:
            unit_cost = float(info.unit_cost_micro_usd) / 1e6
        return Flavor(
            name=name,
            pretty_name=str(info.pretty_name or name),
            cpu=_leading_int(info.cpu, what="cpu"),
            ram_gb=_size_gb(info.ram, what="ram"),
            gpu=str(accelerator.model) if accelerator and gpu_count else None,
            gpu_count=gpu_count,
            vram_gb=_size_gb(accelerator.vram, what="vram") if accelerator and gpu_count else 0.0,
            # Rounded so that 0.000167 USD a minute reads back as the page's $0.01 an hour, not 0.01002.
            price_per_hour=round(unit_cost * _PER_HOUR[unit], 4),
        )
    except ValueError as exc:
        raise ValueError(f"hardware {name!r} from the Hub: {exc}") from exc
