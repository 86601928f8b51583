"""What this machine can hold, and so which flavors the local backend runs.

Locally a flavor is a size, not a machine of its own: a job gets as many of this machine's GPUs as its flavor names,
and shares this machine's cores and memory with whatever else runs here. A flavor is runnable when this machine has
at least its GPUs, vCPUs and RAM; the smallest, cpu-basic, always is, so that something runs anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ...core.flavors import Flavor, all_flavors, local_gpu_count
from ...core.models import JobsError

ALWAYS_RUNNABLE = "cpu-basic"


@dataclass(frozen=True)
class Machine:
    cpus: int
    ram_gb: float
    gpus: int

    def describe(self) -> str:
        gpus = f"{self.gpus} GPU{'s' if self.gpus != 1 else ''}" if self.gpus else "no GPU"
        return f"{self.cpus} cores, {self.ram_gb:.0f} GB RAM, {gpus}"


def _ram_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):  # not POSIX: assume it holds what it is asked for
        return float("inf")


def this_machine() -> Machine:
    """This machine's cores (those this process may use), memory and GPUs (see local_gpu_count)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return Machine(cpus=cpus, ram_gb=_ram_gb(), gpus=local_gpu_count())


def shortfall(flavor: Flavor, machine: Machine) -> str | None:
    """What `flavor` asks for that `machine` lacks ('8 vCPU (this machine has 2)'), or None when it holds it."""
    lacks = []
    if flavor.gpu_count > machine.gpus:
        lacks.append(f"{flavor.gpu_count} x {flavor.gpu} GPU")
    if flavor.name != ALWAYS_RUNNABLE:
        # Whole GB: a machine sold as 16 GB reports a little less.
        if flavor.cpu > machine.cpus:
            lacks.append(f"{flavor.cpu} vCPU")
        if flavor.ram_gb > machine.ram_gb + 1:
            lacks.append(f"{flavor.ram_gb:g} GB RAM")
    return " and ".join(lacks) or None


def runnable_here(machine: Machine) -> list[Flavor]:
    return [f for f in all_flavors() if shortfall(f, machine) is None]


LOCAL_MEANING = ("On the local backend a flavor is a size: the job gets that many of this machine's GPUs and shares "
                 "its cores and memory; the price is what Hugging Face Jobs would bill, and a local run costs nothing.")


def hardware_note() -> str:
    """LOCAL_MEANING and this machine's size; a GPU count that cannot be read (a bad TRL_JOBS_LOCAL_GPUS) is left
    out here, as check_flavor names that problem when it matters."""
    try:
        here = this_machine().describe()
    except JobsError:
        here = f"{os.cpu_count() or 1} cores, {_ram_gb():.0f} GB RAM"
    return f"{LOCAL_MEANING} This machine: {here}."
