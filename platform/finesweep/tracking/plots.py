"""Sweep plots from MLflow runs: Optuna's optimization history, parameter importances and parallel
coordinates (on an Optuna study rebuilt from the child runs), and per-trial learning curves."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from finesweep.objective import Objective
from finesweep.tracking.schema import TAG_STATUS, TAG_TRIAL


def _space(mlflow_client: Any, parent_run_id: str) -> dict[str, Any]:
    """The sweep's search space as logged on its parent run; empty when the run has none (a run
    recorded by hand, or whose artifacts were lost): the plots then show no hyperparameters."""
    import tempfile

    from mlflow.exceptions import MlflowException

    from finesweep.config.loader import parse_parameters, parse_yaml_text

    with tempfile.TemporaryDirectory(prefix="finesweep-space-") as tmp:
        try:
            # through this client: mlflow.artifacts.* would use the process-wide tracking URI
            local = mlflow_client.download_artifacts(parent_run_id, "resolved/search_space.yaml", tmp)
        except (MlflowException, OSError):
            return {}
        text = Path(local).read_text(encoding="utf-8")
    parsed = parse_yaml_text(text)
    if not isinstance(parsed, dict) or not isinstance(parsed.get("parameters"), dict):
        return {}
    return parse_parameters(parsed["parameters"], "resolved/search_space.yaml", "parameters", [])


def _param_value(text: str, distribution: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return next(choice for choice in distribution.choices if str(choice) == text)
    if isinstance(distribution, IntDistribution):
        return int(float(text))
    return float(text)


def study_from_runs(mlflow_client: Any, parent: Any, children: list[Any], objective: Objective) -> Any:
    """An in-memory Optuna study whose trials are the sweep's trials (pruned ones as PRUNED), with
    every objective's direction; a trial's constraints are set as Optuna stores them."""
    import optuna

    from finesweep.config.space import to_optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = to_optuna(_space(mlflow_client, parent.info.run_id))
    study = optuna.create_study(directions=[g.optuna_direction for g in objective.goals], study_name=parent.info.run_name)
    for run in sorted(children, key=lambda r: r.info.start_time):
        values = objective.values(run.data.metrics)
        status = run.data.tags.get(TAG_STATUS)
        if values is None or status not in ("completed", "pruned"):
            continue
        violations = {c.text: min(c.violation(run.data.metrics.get(c.metric)), 1e12) for c in objective.constraints}
        study.add_trial(
            optuna.trial.create_trial(
                params={k: _param_value(run.data.params[k], d) for k, d in distributions.items() if k in run.data.params},
                distributions={k: d for k, d in distributions.items() if k in run.data.params},
                values=list(values) if status == "completed" else None,
                # no intermediate values: no plot drawn from the study needs them, and reading each
                # trial's history would cost one request per trial
                state=optuna.trial.TrialState.COMPLETE if status == "completed" else optuna.trial.TrialState.PRUNED,
                user_attrs={"trial_id": run.data.tags.get(TAG_TRIAL)},
                system_attrs={f"constraints:{key}": value for key, value in violations.items()},
            )
        )
    return study


def _constraints(trial: Any) -> list[float]:
    """A trial's constraint values as the study holds them (Optuna's plot greys infeasible trials)."""
    return list(trial.constraints.values())


def _save(axes: Any, path: Path) -> Path:
    figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
    figure.set_size_inches(9, 5.5)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(figure)
    return path


CURVES_SHOWN = 30  # trials drawn in the learning-curve plot: more lines read as noise, and each costs a request


def shown_in_curves(children: list[Any], goal: Any) -> list[Any]:
    """The trials the learning-curve plot draws: every one up to :data:`CURVES_SHOWN`, else the
    best that many by the goal's last value (each curve is one metric-history request to MLflow)."""
    if len(children) <= CURVES_SHOWN:
        return children
    scored = [run for run in children if goal.metric in run.data.metrics]
    return sorted(scored, key=lambda run: -goal.gain(run.data.metrics[goal.metric]))[:CURVES_SHOWN]


def learning_curves(mlflow_client: Any, children: list[Any], goal: Any, path: Path) -> Path:
    """Validation metric by epoch per trial (the best :data:`CURVES_SHOWN` of larger sweeps);
    ASHA-stopped trials dashed."""
    import matplotlib.pyplot as plt

    metric = goal.metric
    shown = shown_in_curves(children, goal)
    figure, axes = plt.subplots(figsize=(9, 5.5))
    for run in sorted(shown, key=lambda r: r.info.start_time):
        history = sorted(mlflow_client.get_metric_history(run.info.run_id, metric), key=lambda m: m.step)
        if not history:
            continue
        pruned = run.data.tags.get(TAG_STATUS) == "pruned"
        axes.plot(
            [m.step for m in history],
            [m.value for m in history],
            linestyle="--" if pruned else "-",
            marker="x" if pruned else "o",
            label=f"{run.data.tags.get(TAG_TRIAL)} ({run.data.tags.get(TAG_STATUS)})",
        )
    axes.set_xlabel("epoch")
    axes.set_ylabel(metric)
    best = f"the best {len(shown)} of {len(children)} trials, " if len(shown) < len(children) else ""
    axes.set_title(f"Learning curves ({metric}; {best}dashed = stopped early by ASHA)")
    axes.xaxis.get_major_locator().set_params(integer=True)
    if axes.get_legend_handles_labels()[0]:  # no curve recorded (e.g. a --resume of ended trials): no empty legend, no warning
        axes.legend(fontsize=7, ncol=2)
    return _save(axes, path)


def sweep_plots(mlflow_client: Any, parent: Any, children: list[Any], objective: Objective, out: Path) -> list[Path]:
    """Write the sweep's PNG plots into ``out``; plots that need more trials are skipped. With
    several objectives: the Pareto front (Optuna's), then the other plots on the primary goal."""
    import matplotlib

    matplotlib.use("Agg")
    from optuna.visualization import matplotlib as optuna_plots

    out.mkdir(parents=True, exist_ok=True)
    metric = objective.primary.metric
    paths = [learning_curves(mlflow_client, children, objective.primary, out / "learning_curves.png")]
    if objective.multi:
        front = study_from_runs(mlflow_client, parent, children, objective)
        if any(t.state.name == "COMPLETE" for t in front.trials):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = optuna_plots.plot_pareto_front(front, target_names=objective.metrics,
                                                      constraints_func=_constraints if objective.constraints else None)  # fmt: skip
                paths.append(_save(axes, out / "pareto_front.png"))
    study = study_from_runs(mlflow_client, parent, children, Objective((objective.primary,)))
    completed = [t for t in study.trials if t.state.name == "COMPLETE"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib backend experimental
        if completed:
            paths.append(_save(optuna_plots.plot_optimization_history(study, target_name=metric), out / "optimization_history.png"))
            paths.append(_save(optuna_plots.plot_parallel_coordinate(study, target_name=metric), out / "parallel_coordinates.png"))
        if len(completed) >= 2 and len(study.trials[0].distributions) >= 1:
            try:
                axes = optuna_plots.plot_param_importances(study, target_name=metric)
                paths.append(_save(axes, out / "param_importances.png"))
            except (RuntimeError, ValueError):
                pass  # importances need variation among completed trials
    return paths
