"""``finesweep plan``: how a job's sweep would run on a cluster, before anything is rented.

Given a job and a cluster, either a named shape (``4x8gpu``), this machine (``local``) or a
running Ray cluster's address, it prints how many trials run at once and where they land (the
same best-fit packing the sweep uses, :mod:`finesweep.tuning.execution.planning`), ASHA's rungs and the
trial-epochs the sweep will spend: planned (every trial to its end), expected under ASHA, worst
case and fewest possible, plus a warning for every resource that never fits. It starts nothing:
a named shape needs no Ray at all, and an address is only read (connect, list nodes, disconnect).
Anchor: Determined's ``det preview-search``.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import socket
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from finesweep.config.loader import LoadedJob
from finesweep.config.schema import ScalingConfig
from finesweep.config.space import candidate_values, finite_values, upper_bound
from finesweep.errors import ConfigError, FinesweepError, SweepError
from finesweep.tuning.commands.memory_plan import MemoryLimits, MemoryPlan, memory_plan, memory_warnings

# CPUs per node when a GPU shape names none: 8 per GPU, the ratio of e.g. AWS p3.16xlarge
# (64 vCPU, 8 GPUs) and below most GPU instances (g5/p4d/p5 have 12 to 24 per GPU), so the
# plan errs on the side of too few CPUs rather than promising trials that will not start.
DEFAULT_CPUS_PER_GPU = 8
MAX_NODES = 256  # packing is per node and per trial: 1000 nodes x 10,000 trials took 27 s here
MAX_GPUS_PER_NODE = 64
MAX_CPUS_PER_NODE = 4096
CONNECT_TIMEOUT_S = 5.0  # a TCP check before Ray: ray.init waits minutes on an address nobody answers

ALLOWED = (
    "NxMgpu (N nodes of M GPUs and 8 CPUs per GPU, e.g. 4x8gpu), NxMgpu:Kcpu (K CPUs per node), "
    "NxKcpu (CPU-only nodes), groups joined by + (1x8cpu+4x8gpu), local (this machine), "
    "auto, host:port or ray://host:port (a running Ray cluster)"
)
_GROUP = re.compile(r"(?P<nodes>\d{1,6})x(?:(?P<gpus>\d{1,6})gpu(?::(?P<cpus>\d{1,6})cpu)?|(?P<only_cpus>\d{1,6})cpu)", re.ASCII)
_ADDRESS = re.compile(r"(?P<client>ray://)?(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*):(?P<port>\d{1,5})", re.ASCII)


@dataclass(frozen=True)
class ClusterSpec:
    """A parsed ``--cluster``: a named shape (its nodes), ``local``, or a running cluster's address."""

    text: str
    kind: str  # "shape", "local" or "address"
    shape: tuple[dict[str, float], ...] = ()
    address: str | None = None


def _spec_error(text: str, why: str) -> ConfigError:
    return ConfigError([f"`--cluster`: {why} (got {text!r}); allowed: {ALLOWED}"])


def parse_cluster_spec(text: str) -> ClusterSpec:
    """Parse ``--cluster``; a bad spec is one line naming the option, what came and what is allowed."""
    spec = text.strip()
    lowered = spec.lower()
    if lowered in ("local", ""):
        return ClusterSpec(text, "local")
    if lowered == "auto":
        return ClusterSpec(text, "address", address="auto")
    address = _ADDRESS.fullmatch(spec)
    if address:
        if re.fullmatch(r"\d+x\d+[a-z]*", address["host"], re.IGNORECASE):  # 4x8gpu:64, not a host
            raise _spec_error(text, "a shape's CPUs are written NxMgpu:Kcpu, e.g. 4x8gpu:64cpu")
        port = int(address["port"])
        if not 1 <= port <= 65535:
            raise _spec_error(text, f"port {port} is not between 1 and 65535")
        return ClusterSpec(text, "address", address=spec)
    if lowered.startswith(("http://", "https://")):
        raise _spec_error(
            text, "a dashboard URL is for `finesweep submit`; give the cluster's host:6379 or ray://host:10001"
        )
    nodes: list[dict[str, float]] = []
    for group in lowered.split("+"):
        if not group.strip():
            raise _spec_error(text, "an empty group around +")
        nodes.extend(_parse_group(text, group.strip()))
    if len(nodes) > MAX_NODES:
        raise _spec_error(text, f"at most {MAX_NODES} nodes are planned ({len(nodes)} named)")
    return ClusterSpec(text, "shape", shape=tuple(nodes))


def _parse_group(text: str, group: str) -> list[dict[str, float]]:
    """``NxMgpu[:Kcpu]`` or ``NxKcpu``: N identical nodes."""
    match = _GROUP.fullmatch(group)
    if match is None:
        raise _spec_error(text, f"cannot read {group!r}")
    count = int(match["nodes"])
    gpus = int(match["gpus"] or 0)
    cpus = int(match["cpus"] or match["only_cpus"] or gpus * DEFAULT_CPUS_PER_GPU)
    if not 1 <= count <= MAX_NODES:
        raise _spec_error(text, f"the node count must be 1 to {MAX_NODES}")
    if match["gpus"] is not None and not 1 <= gpus <= MAX_GPUS_PER_NODE:
        raise _spec_error(text, f"GPUs per node must be 1 to {MAX_GPUS_PER_NODE} (use NxKcpu for CPU-only nodes)")
    if not 1 <= cpus <= MAX_CPUS_PER_NODE:
        raise _spec_error(text, f"CPUs per node must be 1 to {MAX_CPUS_PER_NODE}")
    node = {"CPU": float(cpus), "GPU": float(gpus)}
    return [dict(node) for _ in range(count)]


def cluster_nodes(spec: ClusterSpec) -> list[dict[str, float]]:
    """CPU/GPU of every node: the named shape, this machine, or the running cluster's alive nodes."""
    if spec.kind == "shape":
        return [dict(node) for node in spec.shape]
    if spec.kind == "local":
        from finesweep.tuning.execution.planning import local_machine_resources

        return [local_machine_resources()]
    return _running_cluster_nodes(spec)


def _unreachable(spec: ClusterSpec, why: str) -> FinesweepError:
    return FinesweepError(
        f"`--cluster {spec.text}`: no Ray cluster answers there ({why}); start it or check the address"
    )


def _bootstrap_address(spec: ClusterSpec) -> tuple[str, str, int]:
    """What to pass to ``ray.init`` and the host and port to check first (``auto`` found as Ray finds it)."""
    address = spec.address or "auto"
    if address == "auto":
        from ray._private.services import canonicalize_bootstrap_address

        try:
            found = canonicalize_bootstrap_address("auto")
        except (ConnectionError, ValueError) as exc:
            raise _unreachable(spec, str(exc).splitlines()[0] if str(exc) else "none found") from None
        if found is None:
            raise _unreachable(spec, "no running Ray cluster found on this machine")
        address = found
    match = _ADDRESS.fullmatch(address)
    if match is None:  # pragma: no cover - Ray answers host:port
        raise _unreachable(spec, f"Ray gave the address {address!r}")
    return address, match["host"], int(match["port"])


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Hide file descriptor 2 while Ray connects: its C++ client logs a line per retry (one a
    second for 20 s when the port answers but is no Ray), and a failure is reported in one line."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _running_cluster_nodes(spec: ClusterSpec) -> list[dict[str, float]]:
    """Connect read-only (no resources, no tasks), list the alive nodes, disconnect."""
    import ray

    from finesweep.tuning.execution.planning import node_resources

    if ray.is_initialized():
        raise FinesweepError("`--cluster`: this process is already connected to a Ray cluster")
    address, host, port = _bootstrap_address(spec)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except TimeoutError:
        raise _unreachable(spec, f"no answer within {CONNECT_TIMEOUT_S:g} s") from None
    except OSError as exc:
        raise _unreachable(spec, exc.strerror or type(exc).__name__) from None
    try:
        with _quiet_stderr():
            ray.init(address=address, log_to_driver=False, logging_level="error")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise _unreachable(spec, str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    try:
        return node_resources()
    finally:
        ray.shutdown()


# ---------------------------------------------------------------------------------------------
# the plan


@dataclass(frozen=True)
class NodeLoad:
    """One node while the planned trials run: what it has, whose workers it holds, what is left."""

    resources: dict[str, float]
    trials: int  # trials with at least one worker on this node
    workers: int
    drivers: int
    left: dict[str, float]


@dataclass(frozen=True)
class Rung:
    """An ASHA decision point, in the ideal case where each rung keeps 1/reduction_factor."""

    epoch: int  # the epoch whose result is judged (Ray's milestone, rounded up to a whole epoch)
    milestones: tuple[float, ...]  # Ray's rung milestone(s) judged at this epoch
    reach: float  # trials that report this epoch
    keep: float  # trials that continue past it


@dataclass(frozen=True)
class TrialEpochs:
    """Epochs summed over every trial of the sweep."""

    planned: int  # every trial to its end (no early stopping)
    expected: float  # ASHA's ideal case: each rung keeps 1/reduction_factor
    worst_case: int  # ASHA is asynchronous and may stop no trial at all
    fewest: int  # fewest possible: every trial judged at the first rung, one trial runs on


@dataclass(frozen=True)
class Preview:
    """Everything ``finesweep plan`` prints."""

    job: str
    cluster: str
    nodes: list[dict[str, float]]
    trials: int
    trials_source: str
    bundles: list[dict[str, float]]
    runtime: str
    trials_at_once: int
    fit: int
    requested: int | str
    per_node: list[NodeLoad]
    scheduler: str
    epochs: tuple[int, int]  # fewest and most epochs one trial can run
    rungs: list[Rung]
    trial_epochs: TrialEpochs
    memory: MemoryPlan
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (``finesweep plan --json``)."""
        return asdict(self)

    def describe(self) -> list[str]:
        """The lines ``finesweep plan`` prints."""
        size = f"{len(self.nodes)} node(s), {_res(_total(self.nodes))} in all"
        lines = [
            f"Plan for job {self.job!r} on {self.cluster}: {size}",
            f"trials: {self.trials} ({self.trials_source}); each holds {self._trial_shape()}",
            f"trials at once: {self.trials_at_once} (room for {self.fit}; max_concurrent_trials {self.requested})",
        ]
        lines += [f"  {line}" for line in _node_lines(self.per_node)]
        lines += self._scheduler_lines()
        e = self.trial_epochs
        lines.append(
            f"trial-epochs: planned {e.planned} (every trial to its end), expected {e.expected:.3g} with ASHA, "
            f"worst case {e.worst_case} (asynchronous ASHA may stop none), fewest possible {e.fewest}"
            if self.rungs
            else f"trial-epochs: planned {e.planned} (every trial to its end; nothing stops early), fewest {e.fewest}"
        )
        lines.append(self.memory.line())
        lines += [f"warning: {warning}" for warning in self.warnings]
        return lines

    def _trial_shape(self) -> str:
        worker = self.bundles[-1]
        workers = len(self.bundles) - (1 if self.runtime == "train" else 0)
        shape = f"{workers} worker(s) x ({_res(worker)})"
        if self.runtime == "train":
            return f"{_res(self.bundles[0])} (driver) + {shape}"
        return f"{shape} in its Tune trial actor"

    def _scheduler_lines(self) -> list[str]:
        if not self.rungs:
            return [f"scheduler: {self.scheduler}; every trial runs its {_span(self.epochs)} epoch(s)"]
        lines = [f"scheduler: {self.scheduler}; rungs, ideal case (each keeps 1/reduction_factor):"]
        for rung in self.rungs:
            lines.append(f"  epoch {rung.epoch}: {rung.reach:.3g} trial(s) reach it, {rung.keep:.3g} continue")
        lines.append(f"  epoch {self.epochs[1]}: {self.rungs[-1].keep:.3g} trial(s) run to the last epoch")
        return lines


def _res(resources: dict[str, float], like: dict[str, float] | None = None) -> str:
    """``8 CPU, 4 GPU``: CPU always, other resources when non-zero (or non-zero in ``like``)."""
    like = like or resources
    shown = {k: v for k, v in resources.items() if v or like.get(k) or k == "CPU"}
    return ", ".join(f"{v:g} {k}" for k, v in shown.items())


def _total(nodes: list[dict[str, float]]) -> dict[str, float]:
    total: dict[str, float] = {"CPU": 0.0, "GPU": 0.0}
    for node in nodes:
        for key, value in node.items():
            total[key] = total.get(key, 0.0) + value
    return total


def _span(bounds: tuple[int, int]) -> str:
    return str(bounds[0]) if bounds[0] == bounds[1] else f"{bounds[0]}-{bounds[1]}"


def _node_lines(loads: list[NodeLoad]) -> list[str]:
    """One line per run of identical consecutive nodes (a 100-node shape stays short)."""
    lines: list[str] = []
    start = 0
    for index in range(1, len(loads) + 1):
        if index < len(loads) and loads[index] == loads[start]:
            continue
        load = loads[start]
        names = f"node {start + 1}" if index - start == 1 else f"nodes {start + 1}-{index}"
        each = "" if index - start == 1 else " each"
        lines.append(
            f"{names} ({_res(load.resources)}{each}): {load.trials} trial(s), {load.workers} worker(s)"
            + (f", {load.drivers} driver(s)" if load.drivers else "")
            + f"; left {_res(load.left, load.resources)}"
        )
        start = index
    return lines


def total_trials(loaded: LoadedJob) -> tuple[int, str]:
    """How many trials the sweep runs, and why: the grid's size or ``search.num_samples``."""
    from finesweep.tuning.search.space import grid_size

    search = loaded.job.search
    if search.algorithm == "grid":
        return grid_size(loaded.space), "grid search: one trial per point"
    return search.num_samples, f"search.num_samples, {search.algorithm} search"


def epoch_range(loaded: LoadedJob) -> tuple[int, int]:
    """Fewest and most epochs one trial can run: the space's ``epochs`` bounds or the fixed value."""
    spec = loaded.space.get("epochs")
    if spec is None:
        fixed = int(getattr(loaded.params, "epochs"))
        return fixed, fixed
    values = finite_values(spec) or candidate_values(spec)
    return int(min(values)), int(upper_bound(spec))


def _epochs_without_stopping(loaded: LoadedJob, trials: int, epochs: tuple[int, int]) -> tuple[int, int]:
    """Fewest and most trial-epochs if no trial is stopped: exact for a grid, bounds when sampled."""
    spec = loaded.space.get("epochs")
    if loaded.job.search.algorithm == "grid" and spec is not None:
        values = [int(v) for v in finite_values(spec)]
        exact = trials // len(values) * sum(values)  # every epochs value meets every other point
        return exact, exact
    return trials * epochs[0], trials * epochs[1]


def asha_milestones(grace_period: int, max_t: int, reduction_factor: float) -> list[float]:
    """Ray's AsyncHyperBand rung milestones (one bracket), ascending: grace_period x rf^k."""
    import numpy as np

    # the same expression as ray.tune.schedulers.async_hyperband._Bracket (bracket s = 0)
    count = int(np.log(max_t / grace_period) / np.log(reduction_factor) + 1)
    return [grace_period * reduction_factor**k for k in range(count)]


def asha_rungs(milestones: list[float], last_epoch: int, trials: int, reduction_factor: float) -> list[Rung]:
    """The rungs that can stop a trial: milestones before the last epoch, judged at whole epochs.

    A trial reports whole epochs and ASHA judges one rung per result (the highest milestone the
    epoch passed), so milestones between two epochs are judged together at the later one.
    """
    by_epoch: dict[int, list[float]] = {}
    for milestone in milestones:
        epoch = math.ceil(milestone - 1e-9)
        if epoch < last_epoch:
            by_epoch.setdefault(epoch, []).append(milestone)
    rungs = []
    reach = float(trials)
    for epoch in sorted(by_epoch):
        rungs.append(Rung(epoch, tuple(by_epoch[epoch]), reach, reach / reduction_factor))
        reach /= reduction_factor
    return rungs


def trial_epochs(rungs: list[Rung], trials: int, epochs: tuple[int, int], bounds: tuple[int, int]) -> TrialEpochs:
    """Planned, expected (ideal ASHA), worst-case and fewest trial-epochs of the whole sweep."""
    fewest_unstopped, planned = bounds
    if not rungs:
        return TrialEpochs(planned, float(planned), planned, fewest_unstopped)
    # the ideal case: every trial runs to the first rung, then 1/rf of those reaching each rung
    # go on to the next one (or to the last epoch); each trial assumed to run the most epochs
    expected = float(trials * rungs[0].epoch)
    for rung, after in zip(rungs, [r.epoch for r in rungs[1:]] + [epochs[1]]):
        expected += rung.keep * (after - rung.epoch)
    # the first trial to reach a rung has nothing to be compared with, so ASHA lets it continue:
    # at least one trial runs to its end; every other one runs at least to the first rung
    shortest = min(rungs[0].epoch, epochs[0])
    fewest = min(fewest_unstopped, (trials - 1) * shortest + epochs[0])
    return TrialEpochs(planned, min(expected, float(planned)), planned, fewest)


def _node_loads(nodes: list[dict[str, float]], scaling: ScalingConfig, trials_at_once: int) -> list[NodeLoad]:
    """Where the planned trials land, packed best-fit exactly as the sweep's planner packs them."""
    from finesweep.tuning.execution.planning import pack_trials, trial_bundles

    bundles = trial_bundles(scaling)
    driver = 0 if scaling.runtime == "train" else None
    placed = pack_trials(nodes, scaling, limit=trials_at_once)
    left = [dict(node) for node in nodes]
    workers = [0] * len(nodes)
    drivers = [0] * len(nodes)
    trials = [0] * len(nodes)
    for where in placed:
        for index, node in enumerate(where):
            for key, value in bundles[index].items():
                left[node][key] = left[node].get(key, 0.0) - value
            if index == driver:
                drivers[node] += 1
            else:
                workers[node] += 1
        for node in {n for i, n in enumerate(where) if i != driver}:
            trials[node] += 1
    return [
        NodeLoad(dict(node), trials[i], workers[i], drivers[i], {k: round(max(v, 0.0), 6) for k, v in left[i].items()})
        for i, node in enumerate(nodes)
    ]


_OPTIONS = {
    "driver": {"CPU": "trial_driver_cpus"},
    "worker": {"CPU": "cpus_per_worker", "GPU": "gpus_per_worker"},
}


def _fit_warnings(nodes: list[dict[str, float]], scaling: ScalingConfig, cluster: str) -> list[str]:
    """A bundle (driver or worker) that fits no node, and GPUs asked of a cluster that has none."""
    from finesweep.tuning.execution.planning import trial_bundles

    total = _total(nodes)
    if scaling.gpus_per_worker and not total.get("GPU"):
        return [
            f"scaling.gpus_per_worker is {scaling.gpus_per_worker:g} but {cluster} has no GPUs: "
            "the trials never fit; use a GPU shape or set scaling.gpus_per_worker: 0"
        ]
    warnings = []
    bundles = trial_bundles(scaling)
    roles = ["driver"] + ["worker"] * (len(bundles) - 1) if scaling.runtime == "train" else ["worker"]
    largest = max(nodes, key=lambda n: (n.get("GPU", 0.0), n.get("CPU", 0.0)))
    for role, bundle in dict(zip(roles, bundles)).items():
        if any(all(n.get(k, 0.0) + 1e-9 >= v for k, v in bundle.items()) for n in nodes):
            continue
        # name the keys that ask more than any node has; else the node is only too small as a whole
        options = _OPTIONS[role]
        keys = [options[k] for k, v in bundle.items() if not any(n.get(k, 0.0) + 1e-9 >= v for n in nodes)]
        lower = f"lower scaling.{' / '.join(keys)}" if keys else "use nodes with more of both"
        warnings.append(
            f"a trial's {role} needs {_res(bundle)} but no node of {cluster} has that (the largest has "
            f"{_res(largest)}): it never fits; {lower}"
        )
    return warnings


def _capacity_warnings(trials: int, fit: int, gpus: float, scaling: ScalingConfig) -> list[str]:
    """Trial slots or GPUs the sweep leaves idle."""
    warnings = []
    requested = scaling.max_concurrent_trials
    if isinstance(requested, int) and requested < min(fit, trials):
        warnings.append(
            f"scaling.max_concurrent_trials {requested} limits the sweep to {requested} trial(s) at once; "
            f"the cluster has room for {fit}"
        )
    if 0 < fit and trials < fit:
        warnings.append(f"the sweep has {trials} trial(s) for {fit} slots: {fit - trials} slot(s) stay idle")
    if gpus and not scaling.gpus_per_worker:
        warnings.append(f"the cluster's {gpus:g} GPU(s) stay idle: scaling.gpus_per_worker is 0")
    return warnings


def preview(loaded: LoadedJob, nodes: list[dict[str, float]], cluster: str, limits: MemoryLimits = MemoryLimits()) -> Preview:
    """Plan ``loaded``'s sweep on ``nodes`` (CPU/GPU per node); ``cluster`` names them in the text;
    ``limits`` is what is known of their memory (the peak-memory warning)."""
    from finesweep.tasks import get_task
    from finesweep.tuning.execution.planning import plan_concurrency, trial_bundles, trials_that_fit

    job = loaded.job
    scaling = job.scaling
    trials, source = total_trials(loaded)
    warnings = _fit_warnings(nodes, scaling, cluster)
    try:
        plan = plan_concurrency(nodes, scaling, trials)
        at_once, fit = plan.max_concurrent, plan.fit
    except SweepError as exc:  # no whole trial fits: the sweep would refuse to start
        at_once, fit = 0, trials_that_fit(nodes, scaling)
        if not warnings:
            warnings.append(f"a whole trial never fits: {exc}")
    warnings += _capacity_warnings(trials, fit, _total(nodes).get("GPU", 0.0), scaling)
    if len(nodes) > 1 and "://" not in job.storage_path:
        warnings.append(
            f"storage_path {job.storage_path!r} is a local path on a {len(nodes)}-node cluster: "
            "every node must mount it at the same path (NFS, EFS), or use s3://bucket/prefix "
            "(on cluster.yaml's head, $FINESWEEP_STORAGE_PATH names its bucket for jobs that set none)"
        )
    epochs = epoch_range(loaded)
    rungs: list[Rung] = []
    scheduler = "none (FIFO, no early stopping)"
    if job.scheduler.type == "asha":
        config = job.scheduler
        max_t = config.max_t or loaded.max_epochs()  # as searchers.build_scheduler sets it
        milestones = asha_milestones(config.grace_period, max_t, config.reduction_factor)
        rungs = asha_rungs(milestones, epochs[1], trials, config.reduction_factor)
        scheduler = (
            f"ASHA on epoch (grace_period {config.grace_period}, max_t {max_t}, "
            f"reduction_factor {config.reduction_factor:g})"
        )
    per_node = _node_loads(nodes, scaling, at_once)
    memory = memory_plan(loaded, get_task(job.task).training_sequences(loaded))
    warnings += memory_warnings(memory, limits, [load.workers for load in per_node], scaling.gpus_per_worker)
    return Preview(
        job=loaded.name,
        cluster=cluster,
        nodes=[dict(node) for node in nodes],
        trials=trials,
        trials_source=source,
        bundles=trial_bundles(scaling),
        runtime=scaling.runtime,
        trials_at_once=at_once,
        fit=fit,
        requested=scaling.max_concurrent_trials,
        per_node=per_node,
        scheduler=scheduler,
        epochs=epochs,
        rungs=rungs,
        trial_epochs=trial_epochs(rungs, trials, epochs, _epochs_without_stopping(loaded, trials, epochs)),
        memory=memory,
        warnings=warnings,
    )


def plan_job(loaded: LoadedJob, spec: ClusterSpec, gpu_memory_gib: float | None = None) -> Preview:
    """Read the cluster ``spec`` names (connecting read-only for an address) and plan the job on it;
    ``gpu_memory_gib`` is one GPU's memory (``--gpu-memory``; this machine's first GPU when local)."""
    nodes = cluster_nodes(spec)
    if not nodes:
        raise FinesweepError(f"`--cluster {spec.text}`: the cluster has no alive nodes")
    label = "this machine (local)" if spec.kind == "local" else spec.text.strip()
    gpu = gpu_memory_gib * 2**30 if gpu_memory_gib else None
    limits = _local_memory(gpu, loaded.job.scaling.gpus_per_worker > 0) if spec.kind == "local" else MemoryLimits(None, gpu)
    return preview(loaded, nodes, label, limits)


def _local_memory(gpu_bytes: float | None, uses_gpus: bool) -> MemoryLimits:
    """This machine's memory, and its first CUDA device's unless ``gpu_bytes`` names one."""
    import psutil

    if gpu_bytes is None and uses_gpus:
        import torch

        if torch.cuda.is_available():
            gpu_bytes = float(torch.cuda.get_device_properties(0).total_memory)
    return MemoryLimits(float(psutil.virtual_memory().total), gpu_bytes)
