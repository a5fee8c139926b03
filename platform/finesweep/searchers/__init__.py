"""The searcher registry: ``search.algorithm`` names mapped lazily to their implementations.

Adding a searcher is one :class:`~finesweep.searchers.base.Searcher` subclass plus one line here.
A job file only picks among these names; it never names a module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finesweep.searchers.base import Searcher

_REGISTRY: dict[str, str] = {
    "tpe": "finesweep.searchers.optuna_samplers:TPE",
    "motpe": "finesweep.searchers.optuna_samplers:MOTPE",
    "random": "finesweep.searchers.optuna_samplers:RandomSearch",
    "gp": "finesweep.searchers.optuna_samplers:GP",
    "cmaes": "finesweep.searchers.optuna_samplers:CmaEs",
    "qmc": "finesweep.searchers.optuna_samplers:QMC",
    "nsga2": "finesweep.searchers.optuna_samplers:NSGA2",
    "grid": "finesweep.searchers.grid:Grid",
}


def searcher_names() -> list[str]:
    """Names accepted by a job's ``search.algorithm``, in registry order."""
    return list(_REGISTRY)


def get_searcher(name: str) -> "Searcher":
    """The searcher registered under ``name`` (KeyError for unknown names; validation checks first)."""
    module_name, _, attribute = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module_name), attribute)()
