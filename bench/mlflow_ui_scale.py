"""Does MLflow's UI hold a 1,000-trial sweep? Opens the experiment's runs table in headless Chromium
against ``mlflow server`` on a replay sweep's store (bench/replay_scale.py --keep) and times it:
the server's start, the first page of the runs table, the parent run expanded to its trials.

    python bench/mlflow_ui_scale.py --tracking-uri sqlite:////work/scale/1000/mlflow.db --sweep replay-1000

Writes ``mlflow_ui`` into ``bench/results/replay_scale.json`` and a screenshot to
``docs/images/mlflow-runs-1000.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, ROOT  # noqa: E402
from mlflow_screenshots import (  # noqa: E402
    TEXT_HAS_ALL, Problem, check_browser, in_model_training, click_model_training, mlflow_server, save_png,
    start_browser, wait_for,
)

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def experiment_of(tracking_uri: str, sweep: str) -> tuple[str, str]:
    """(experiment id, parent run name) of the sweep."""
    from mlflow.tracking import MlflowClient

    from finesweep.tracking.snapshot import sweep_parent

    parent = sweep_parent(MlflowClient(tracking_uri), sweep)
    return parent.info.experiment_id, parent.info.run_name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--sweep", required=True)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each page")
    args = parser.parse_args()
    check_browser(CHROMIUM, CHROMEDRIVER)
    experiment, parent_name = experiment_of(args.tracking_uri, args.sweep)
    figures: dict[str, object] = {"sweep": args.sweep}
    started = time.monotonic()
    with mlflow_server(args.tracking_uri, args.timeout) as url:
        figures["server_start_s"] = round(time.monotonic() - started, 1)
        driver = start_browser(CHROMIUM, CHROMEDRIVER, 1600, 1000)
        try:
            page = f"{url}/#/experiments/{experiment}/runs?workflowType=machine_learning"
            opened = time.monotonic()
            driver.get(page)
            shown = wait_for(driver, TEXT_HAS_ALL, args.timeout, [parent_name])
            if not shown and not in_model_training(driver) and click_model_training(driver):
                driver.get(page)
                opened = time.monotonic()
                shown = wait_for(driver, TEXT_HAS_ALL, args.timeout, [parent_name])
            figures["runs_table_s"] = round(time.monotonic() - opened, 1) if shown else None
            figures["runs_table_loaded"] = bool(shown)
            expanded = time.monotonic()
            # the parent row's expander: the icon button MLflow's run-name cell renders before the name
            driver.execute_script("""const row = [...document.querySelectorAll('[role=row]')]
                .find(r => r.textContent.includes(arguments[0]));
                const button = row && row.querySelector('button[data-component-id*=runnamecellrenderer]');
                if (button) { button.click(); }""", parent_name)
            # any trial row ("trial N · id"): newest first, so trial 1 is not on the first page of 1,000
            figures["trials_shown_s"] = (round(time.monotonic() - expanded, 1)
                                         if wait_for(driver, TEXT_HAS_ALL, args.timeout, ["trial ", " · "]) else None)  # fmt: skip
            figures["screenshot"] = save_png(driver, ROOT / "docs" / "images" / "mlflow-runs-1000.png")
        finally:
            driver.quit()
    print(json.dumps(figures), flush=True)
    path = RESULTS / "replay_scale.json"
    result = json.loads(path.read_text())
    result["mlflow_ui"] = figures
    path.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Problem as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
