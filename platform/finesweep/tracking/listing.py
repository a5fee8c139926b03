"""Every run a query matches, page by page: ``search_runs`` returns at most ``max_results`` runs per
call, and a sweep may hold more trials than any one page."""

from __future__ import annotations

from typing import Any

from finesweep.tracking.schema import TAG_ROLE, TAG_SWEEP, TAG_TRIAL

PAGE_SIZE = 1000  # runs per request: MLflow's servers cap a page at 50,000; smaller pages answer sooner


def all_runs(mlflow_client: Any, experiment_ids: list[str], filter_string: str, order_by: list[str] | None = None,
             page_size: int | None = None) -> list[Any]:  # fmt: skip
    """Every run of ``experiment_ids`` matching ``filter_string``, following MLflow's page tokens
    (``page_size`` runs per request; default :data:`PAGE_SIZE`, read at call time)."""
    if not experiment_ids:
        return []
    page_size = page_size or PAGE_SIZE
    runs: list[Any] = []
    token = None
    while True:
        page = mlflow_client.search_runs(
            experiment_ids, filter_string=filter_string, order_by=order_by, max_results=page_size, page_token=token
        )
        runs.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return runs


def trial_filter(sweep: str) -> str:
    """The search filter of a sweep's trial runs."""
    return f"tags.`{TAG_SWEEP}` = '{sweep}' and tags.`{TAG_ROLE}` = 'trial'"


def sweep_trials(mlflow_client: Any, experiment_id: str, sweep: str) -> list[Any]:
    """Every trial run of ``sweep`` in ``experiment_id``."""
    return all_runs(mlflow_client, [experiment_id], trial_filter(sweep))


def find_parent_id(mlflow_client: Any, experiment_id: str | None, sweep: str) -> str | None:
    """The run id of ``sweep``'s parent run, if one exists."""
    if experiment_id is None:
        return None
    runs = mlflow_client.search_runs(
        [experiment_id], filter_string=f"tags.`{TAG_SWEEP}` = '{sweep}' and tags.`{TAG_ROLE}` = 'sweep'", max_results=1
    )
    return runs[0].info.run_id if runs else None


def find_trial_run_id(mlflow_client: Any, experiment_id: str | None, sweep: str, trial_id: str) -> str | None:
    """The run id of one trial of ``sweep`` (by its Tune trial id), if it has one."""
    if experiment_id is None:
        return None
    runs = mlflow_client.search_runs(
        [experiment_id], filter_string=f"{trial_filter(sweep)} and tags.`{TAG_TRIAL}` = '{trial_id}'", max_results=1
    )
    return runs[0].info.run_id if runs else None
