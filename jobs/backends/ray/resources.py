"""Flavors as Ray resource requests, and whether a cluster can hold them.

A flavor becomes the entrypoint's own request (entrypoint_num_cpus, entrypoint_num_gpus, entrypoint_memory): the
job's command is the training process, so it needs the whole flavor on one node. Ray never places an entrypoint
across nodes, so a flavor fits when one alive node's total resources hold it. The GPU model is not matched: Ray
counts GPUs, and a cluster's accelerator labels are its own.
"""

from __future__ import annotations

from typing import Any

from ...core.flavors import Flavor, all_flavors
from ...core.models import InvalidJobSpec

GB = 10**9  # flavors give RAM in GB, as Hugging Face's pricing page does; Ray counts memory in bytes


def request(flavor: Flavor) -> dict[str, Any]:
    """The submit request's resource fields for `flavor`."""
    fields: dict[str, Any] = {"entrypoint_num_cpus": flavor.cpu, "entrypoint_memory": int(flavor.ram_gb * GB)}
    if flavor.gpu_count:
        fields["entrypoint_num_gpus"] = flavor.gpu_count
    return fields


def fits(flavor: Flavor, nodes: list[dict[str, Any]]) -> bool:
    for node in nodes:
        total = node.get("resources_total") or {}
        if (total.get("CPU", 0) >= flavor.cpu and total.get("GPU", 0) >= flavor.gpu_count
                and total.get("memory", 0) >= flavor.ram_gb * GB):
            return True
    return False


def describe_nodes(nodes: list[dict[str, Any]]) -> str:
    """'2 CPUs, 0 GPUs, 20 GB memory' for the largest node (by GPUs, then CPUs), or 'no alive node'."""
    if not nodes:
        return "no alive node"
    totals = [node.get("resources_total") or {} for node in nodes]
    best = max(totals, key=lambda t: (t.get("GPU", 0), t.get("CPU", 0), t.get("memory", 0)))
    where = "its largest node has" if len(nodes) > 1 else "its one node has"
    return (f"{where} {best.get('CPU', 0):g} CPUs, {best.get('GPU', 0):g} GPUs, "
            f"{best.get('memory', 0) / GB:.3g} GB memory")


def runnable_flavors(nodes: list[dict[str, Any]]) -> list[Flavor]:
    return [f for f in all_flavors() if fits(f, nodes)]


def refuse_unless_fits(flavor: Flavor, nodes: list[dict[str, Any]], *, address: str) -> None:
    """InvalidJobSpec(field="flavor") naming the largest node and the flavors the cluster at `address` can hold,
    unless one of `nodes` holds `flavor`."""
    if fits(flavor, nodes):
        return
    need = f"{flavor.cpu} CPUs, {flavor.gpu_count} GPUs, {flavor.ram_gb:g} GB memory on one node"
    can = [f.name for f in runnable_flavors(nodes)]
    options = (f"Flavors it can hold: {', '.join(can)}." if can else
               "It can hold none of the flavors; add a node (or start the head with more --num-cpus/--memory).")
    raise InvalidJobSpec(f"the Ray cluster at {address} cannot hold {flavor.name} ({need}): "
                         f"{describe_nodes(nodes)}. {options}", field="flavor")


def placeable(flavor: Flavor, nodes: list[dict[str, Any]]) -> int:
    """How many workers of `flavor` the alive nodes hold at once (each whole on one node)."""
    count = 0
    for node in nodes:
        total = node.get("resources_total") or {}
        fits_in = [int(total.get("CPU", 0) // flavor.cpu) if flavor.cpu else 10**6,
                   int(total.get("memory", 0) // (flavor.ram_gb * GB)) if flavor.ram_gb else 10**6]
        if flavor.gpu_count:
            fits_in.append(int(total.get("GPU", 0) // flavor.gpu_count))
        count += max(0, min(fits_in))
    return count


def refuse_unless_placed(flavor: Flavor, workers: int, nodes: list[dict[str, Any]], *, address: str) -> None:
    """InvalidJobSpec(field="workers") naming the largest placement, unless the nodes hold `workers` of `flavor`."""
    most = placeable(flavor, nodes)
    if most >= workers:
        return
    each = f"{flavor.cpu} CPUs, {flavor.gpu_count} GPUs, {flavor.ram_gb:g} GB memory each"
    raise InvalidJobSpec(f"the Ray cluster at {address} can place at most {most} workers of {flavor.name} ({each}) "
                         f"across its {len(nodes)} alive nodes, not {workers}. Ask for workers={max(most, 1)} or a "
                         "smaller flavor, or add nodes.", field="workers")
