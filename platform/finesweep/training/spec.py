"""The typed specification of one sweep's trials, owned by ``training/``.

The sweep driver builds one :class:`TrialSpec` per sweep; the Tune trainable adds the sampled
hyperparameters and hands both to the training loop, on either execution path (in the Tune
trial's own process, or in Ray Train workers). Nothing is read by string keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from finesweep.models.resolve import ResolvedModel
from finesweep.objective import Objective
from finesweep.settings import Settings
from finesweep.training.memory import OomRetry

# in_trial: a single-worker trial trains inside its Tune trial actor, which Tune reuses for the
# next trial (imports, data and base weights stay warm); train: every trial fits a Ray Train
# TorchTrainer (its own controller and worker processes), needed for data parallelism.
# replay: a trial trains nothing and reports a recorded learning curve (tuning.execution.replay).
Runtime = Literal["in_trial", "train", "replay"]


@dataclass(frozen=True)
class TrialSpec:
    """Everything a trial needs besides its sampled hyperparameters."""

    task: str
    data_ref: Any  # a Ray object reference to the prepared, pre-tokenized splits (or the splits, without Ray)
    data_key: str  # identifies those splits: a reused process fetches them once per sweep
    objective: Objective  # early stopping and checkpoint ranking follow its primary goal
    base_model: ResolvedModel  # where the base model loads from
    lora_target_modules: Any  # "auto" or a list of module names
    trust_remote_code: bool
    fixed_params: dict[str, Any]
    runtime: Runtime
    workers_per_trial: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    max_retries: int = 1
    keep_checkpoints: int = 2
    oom_retry: OomRetry = "never"  # redo a step that ran out of device memory in smaller pieces (training.memory)
    storage_path: str = ""  # this sweep's results folder
    budget: Any = None  # a tuning.search.budget.BudgetSignal when the sweep has a budget: after_epoch() -> str | None
    replay: Any = None  # a tuning.execution.replay.Replay (runtime "replay" only): the curve table and its time scale
    extra: dict[str, Any] = field(default_factory=dict)
    # the driver's settings (cache folder, data directory, ...): a worker reads none from its environment
    settings: Settings = field(default_factory=Settings)

    @property
    def threads(self) -> int:
        """Torch threads per worker: round(cpus_per_worker), at least 1."""
        return max(1, int(round(self.cpus_per_worker)))

    def params(self, sampled: dict[str, Any]) -> dict[str, Any]:
        """The trial's hyperparameters: the job's fixed ones overridden by the sampled ones."""
        return {**self.fixed_params, **sampled}
