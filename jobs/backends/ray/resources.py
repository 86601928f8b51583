"""Flavors as Ray resource requests, and whether a cluster can hold them.

A flavor becomes the entrypoint's own request (entrypoint_num_cpus, entrypoint_num_gpus, entrypoint_memory): the
job's command is the training process, so it needs the whole flavor on one node. Ray never places an entrypoint
across nodes, so a flavor fits when one alive node's total resources hold it. The GPU model is not matched: Ray
counts GPUs, and a cluster's accelerator labels are its own.
"""

from __future__ import annotations

from typing import Any

from ...core.flavors import Flavor, all_flavors

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
