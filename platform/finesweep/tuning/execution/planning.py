"""Concurrency planning: how many trials fit the cluster at once, counted node by node.

A trial holds its driver's share (the Tune trial actor) and all its Train workers at the same
time. Admitting more trials than fit would leave drivers holding CPUs while their workers wait
forever for resources ("worker group startup timed out"), so the plan packs whole trials onto the
nodes' resources and admits only as many as fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from finesweep.config.schema import ScalingConfig
from finesweep.errors import SweepError

_EPS = 1e-9


@dataclass(frozen=True)
class ConcurrencyPlan:
    """The plan printed before a sweep starts."""

    max_concurrent: int
    fit: int
    per_trial: dict[str, float]
    cluster: dict[str, float]
    requested: int | str

    def describe(self) -> str:
        """One line for the console."""
        need = ", ".join(f"{v:g} {k}" for k, v in self.per_trial.items() if v)
        have = ", ".join(f"{self.cluster.get(k, 0):g} {k}" for k in self.per_trial if self.per_trial[k])
        return (
            f"{self.max_concurrent} trial(s) at once: each needs {need}; "
            f"the cluster has {have}, room for {self.fit}; requested {self.requested}"
        )


def trial_bundles(scaling: ScalingConfig) -> list[dict[str, float]]:
    """Resource bundles of one trial: its driver, then one per Train worker; a trial that trains
    in its own Tune actor (``in_trial``) is one bundle, its worker's."""
    worker = {"CPU": scaling.cpus_per_worker}
    if scaling.gpus_per_worker:
        worker["GPU"] = scaling.gpus_per_worker
    if scaling.runtime in ("in_trial", "replay"):
        return [worker]
    return [{"CPU": scaling.trial_driver_cpus}] + [dict(worker) for _ in range(scaling.workers_per_trial)]


def _place(bundle: dict[str, float], nodes: list[dict[str, float]]) -> int | None:
    """Put ``bundle`` on the fullest node that still has room (best fit); its index, None if none has."""
    candidates = [i for i, n in enumerate(nodes) if all(n.get(k, 0.0) + _EPS >= v for k, v in bundle.items())]
    if not candidates:
        return None
    index = min(candidates, key=lambda i: sum(nodes[i].get(k, 0.0) - v for k, v in bundle.items()))
    for key, value in bundle.items():
        nodes[index][key] = nodes[index].get(key, 0.0) - value
    return index


def pack_trials(nodes: Iterable[dict[str, float]], scaling: ScalingConfig, limit: int = 10_000) -> list[list[int]]:
    """Whole trials packed best-fit onto nodes with the given free resources: for each trial that
    fits, the index of the node that holds each of its bundles (in :func:`trial_bundles` order)."""
    free = [dict(node) for node in nodes]
    bundles = trial_bundles(scaling)
    placed: list[list[int]] = []
    while len(placed) < limit:
        where = []
        for bundle in bundles:
            index = _place(bundle, free)
            if index is None:
                return placed
            where.append(index)
        placed.append(where)
    return placed


def trials_that_fit(nodes: Iterable[dict[str, float]], scaling: ScalingConfig, limit: int = 10_000) -> int:
    """How many whole trials can run at once on nodes with the given free resources."""
    return len(pack_trials(nodes, scaling, limit))


def plan_concurrency(nodes: list[dict[str, float]], scaling: ScalingConfig, num_samples: int) -> ConcurrencyPlan:
    """Admit as many trials as fit (capped by ``max_concurrent_trials`` and the sweep's size)."""
    per_trial: dict[str, float] = {}
    for bundle in trial_bundles(scaling):
        for key, value in bundle.items():
            per_trial[key] = per_trial.get(key, 0.0) + value
    cluster: dict[str, float] = {}
    for node in nodes:
        for key, value in node.items():
            cluster[key] = cluster.get(key, 0.0) + value
    fit = trials_that_fit(nodes, scaling)
    if fit == 0:
        raise SweepError(
            "scaling: one trial needs "
            + ", ".join(f"{v:g} {k}" for k, v in per_trial.items())
            + " but no node arrangement of the cluster ("
            + ", ".join(f"{cluster.get(k, 0):g} {k}" for k in per_trial)
            + ") can hold it; lower scaling.workers_per_trial / cpus_per_worker / gpus_per_worker"
        )
    requested = scaling.max_concurrent_trials
    cap = fit if requested == "auto" else min(fit, requested)
    return ConcurrencyPlan(max(1, min(cap, num_samples)), fit, per_trial, cluster, requested)


def node_resources() -> list[dict[str, float]]:
    """Total CPU/GPU of every alive node of the connected Ray cluster."""
    import ray

    return [
        {k: float(v) for k, v in node["Resources"].items() if k in ("CPU", "GPU")}
        for node in ray.nodes()
        if node.get("Alive")
    ]


def local_machine_resources() -> dict[str, float]:
    """CPU and GPU of this machine, as a local Ray started here would count them."""
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    gpus = 0
    try:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return {"CPU": float(cpus), "GPU": float(gpus)}
