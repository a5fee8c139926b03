"""Screenshots of a finished sweep in the MLflow UI, taken with Debian's headless Chromium.

    python bench/mlflow_screenshots.py --tracking-uri sqlite:///mlflow.db [--experiment NAME]
    python bench/mlflow_screenshots.py --url http://127.0.0.1:5000 [--experiment NAME]

With ``--tracking-uri`` (a ``sqlite:///`` or file store) the script starts ``mlflow server`` on
127.0.0.1 on a free port, waits until ``/health`` answers and stops it (its process group, by pid)
at the end, errors included; with ``--url`` it uses a server that is already running.

It drives /usr/bin/chromium through /usr/bin/chromedriver (Selenium; nothing is downloaded) in a
fresh profile and saves, under ``--out`` (default docs/images):

- ``mlflow-runs-table.png``: the experiment's runs table with the sweep's parent run expanded, its
  trials' run names, the Dataset column, the sweep's metric and a few other metric and searched
  parameter columns;
- ``mlflow-charts.png``: the chart view comparing the trials: the sweep's metric per epoch and its
  last value per trial, a parallel-coordinates chart of the searched parameters, the metric against
  the first searched parameter, and the loss curves;
- ``mlflow-run.png``: the best trial's run page (datasets, tags, metrics; ``--no-run-page`` skips it).

MLflow 3.x opens an experiment in its "GenAI" view unless the browser has chosen "Model training"
before; the experiment tag ``mlflow.experimentKind`` does not change that. The UI reads the choice
from the ``workflowType`` URL parameter (``?workflowType=machine_learning``, the URL the sidebar
switch itself navigates to), so every page is opened with it; should a page still come up in the
GenAI view, the script clicks the "Model training" switch as a user would.

Columns, expanded rows, charts, run colours and the closed assistant panel are set the way the UI
stores them when a user picks them (the browser's localStorage) before a page is opened. The sweep
(``--sweep``, default the newest in the experiment), its metric (``--metric``, default the one
recorded on the sweep's parent run) and the parameters shown are read from the tracking store.

Exit status: 0 when every screenshot shows what it should, 1 when one was saved without it (each
such one named on stderr), 2 for a problem to fix first (no chromium, no such experiment or sweep,
a server that does not start), one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
APT = "apt-get install -y chromium chromium-driver"
WORKFLOW = "workflowType=machine_learning"
MAX_PNG_BYTES = 400 * 1024
# Distinct colours from the UI's own run-colour palette, one per trial in trial order.
PALETTE = ["#2272b4", "#c83243", "#308613", "#de7921", "#8a63bf", "#04867d", "#b45091", "#a6630c",
           "#434a93", "#e65b77", "#3ba65e", "#1f272d", "#4299e0", "#be501e", "#115026", "#facb66"]  # fmt: skip


class Problem(Exception):
    """Something to fix before screenshots can be taken; one line for stderr."""


@dataclass
class Sweep:
    """What the screenshots show, read from the tracking store."""

    experiment_id: str
    experiment: str
    name: str
    parent_id: str
    metric: str
    mode: str
    trials: list[Any]  # mlflow Run objects, trial order
    metric_columns: list[str]
    param_columns: list[str]
    searched: list[str]
    loss_metrics: list[str] = field(default_factory=list)

    @property
    def best(self) -> Any | None:
        scored = [run for run in self.trials if self.metric in run.data.metrics]
        if not scored:
            return self.trials[0] if self.trials else None
        pick = max if self.mode != "min" else min
        return pick(scored, key=lambda run: run.data.metrics[self.metric])


# --------------------------------------------------------------------------------------------------
# prerequisites and the MLflow server


def check_browser(chromium: str, chromedriver: str) -> None:
    for what, path in (("chromium", chromium), ("chromedriver", chromedriver)):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            raise Problem(f"{what} not found at {path}; install Debian's packages: {APT}")
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise Problem("selenium is not installed: .venv/bin/pip install -e '.[screenshots]'") from None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=3) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def mlflow_server(tracking_uri: str, timeout_s: float) -> Iterator[str]:
    """``mlflow server`` on 127.0.0.1 for the store; yields its URL; stops its process group."""
    if "://" not in tracking_uri:  # a plain folder: a file store
        tracking_uri = Path(tracking_uri).resolve().as_uri()
    if tracking_uri.startswith("file:"):
        # MLflow 3.x refuses file stores ("maintenance mode") unless told that one is meant.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri[len("sqlite:///") :])
        if not db.is_file():
            raise Problem(f"no SQLite store at {db} (from --tracking-uri {tracking_uri})")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    exe = Path(sys.executable).with_name("mlflow")
    command = [str(exe)] if exe.is_file() else [sys.executable, "-m", "mlflow"]
    command += ["server", "--backend-store-uri", tracking_uri, "--host", "127.0.0.1", "--port", str(port),
                "--workers", "1"]  # fmt: skip
    log = tempfile.NamedTemporaryFile("w+", prefix="mlflow-server-", suffix=".log", delete=False)
    # No job runner (a dozen huey consumers for GenAI jobs; pages of runs need none of them), and a
    # session of its own, so that the uvicorn worker goes with the server at the end.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + timeout_s
        while not healthy(url):
            if proc.poll() is not None:
                log.seek(0)
                tail = " | ".join(line.strip() for line in log.read().splitlines()[-3:])
                raise Problem(f"mlflow server exited with status {proc.returncode}: {tail}")
            if time.monotonic() > deadline:
                raise Problem(f"mlflow server did not answer {url}/health within {timeout_s:.0f} s (log: {log.name})")
            time.sleep(0.5)
        print(f"mlflow server (pid {proc.pid}) on {url} for {tracking_uri}", flush=True)
        yield url
    finally:
        stop(proc)
        log.close()
        with contextlib.suppress(OSError):
            os.unlink(log.name)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group (its pid), SIGKILL after 15 s."""
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


# --------------------------------------------------------------------------------------------------
# the sweep, from the tracking store


def read_sweep(tracking: str, experiment: str, sweep: str | None, metric: str | None,
               n_metrics: int, n_params: int) -> Sweep:  # fmt: skip
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = ", ".join(e.name for e in client.search_experiments()) or "none"
        raise Problem(f"no experiment {experiment!r} in {tracking} (experiments: {names})")
    eid = exp.experiment_id
    if sweep:
        found = client.search_runs([eid], filter_string=f"tags.`finesweep.sweep` = '{sweep}' "
                                   "and tags.`finesweep.role` = 'sweep'", max_results=1)  # fmt: skip
        found = found or client.search_runs([eid], filter_string=f"attributes.run_name = '{sweep}'", max_results=1)
        if not found:
            raise Problem(f"no sweep {sweep!r} in experiment {experiment!r}")
        parent = found[0]
    else:
        found = client.search_runs([eid], filter_string="tags.`finesweep.role` = 'sweep'",
                                   order_by=["attributes.start_time DESC"], max_results=1)  # fmt: skip
        if not found:  # any run with children
            runs = client.search_runs([eid], order_by=["attributes.start_time DESC"], max_results=1000)
            parents = {r.data.tags.get("mlflow.parentRunId") for r in runs} - {None}
            found = [r for r in runs if r.info.run_id in parents]
        if not found:
            raise Problem(f"experiment {experiment!r} holds no sweep (no run with child runs)")
        parent = found[0]
    trials = client.search_runs([eid], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
                                max_results=1000)  # fmt: skip
    if not trials:
        raise Problem(f"sweep {parent.info.run_name!r} has no trial runs")
    trials.sort(key=lambda r: (r.info.start_time or 0, r.info.run_name or ""))
    ptags, pparams = parent.data.tags, parent.data.params
    metric = metric or ptags.get("finesweep.metric") or pparams.get("search.metric") or _guess_metric(trials)
    mode = ptags.get("finesweep.mode") or pparams.get("search.mode") or "max"
    present = set().union(*(r.data.metrics for r in trials))
    if metric not in present:
        raise Problem(f"no trial of sweep {parent.info.run_name!r} recorded metric {metric!r} "
                      f"(recorded: {', '.join(sorted(present))})")  # fmt: skip
    split = metric.split("_", 1)[0] if "_" in metric else "val"
    companions = [metric.replace(f"{split}_", "test_", 1) if split != "test" else None,
                  f"{split}_accuracy", f"{split}_loss", "train_loss"]  # fmt: skip
    metric_columns = [metric] + [m for m in companions if m and m in present and m != metric]
    searched = [p.strip() for p in ptags.get("finesweep.searched", "").split(",") if p.strip()]
    if not searched:  # the parameters that differ between trials
        keys = sorted(set().union(*(r.data.params for r in trials)))
        searched = [k for k in keys if len({r.data.params.get(k) for r in trials}) > 1]
    searched = [p for p in searched if any(p in r.data.params for r in trials)]
    varying = [p for p in searched if len({r.data.params.get(p) for r in trials}) > 1] or searched
    return Sweep(
        experiment_id=eid, experiment=experiment, name=parent.info.run_name or parent.info.run_id,
        parent_id=parent.info.run_id, metric=metric, mode=mode, trials=trials,
        metric_columns=metric_columns[:n_metrics], param_columns=varying[:n_params], searched=varying,
        loss_metrics=[m for m in (f"{split}_loss", "train_loss") if m in present],
    )  # fmt: skip


def _guess_metric(trials: list[Any]) -> str:
    counts: dict[str, int] = {}
    for run in trials:
        for key in run.data.metrics:
            counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts, key=lambda k: (-counts[k], not k.startswith("val_"), k))
    if not ranked:
        raise Problem("the sweep's trials recorded no metrics")
    return ranked[0]


# --------------------------------------------------------------------------------------------------
# what the UI stores in localStorage when a user picks columns, expands a run, adds charts


def ui_state(sweep: Sweep) -> dict[str, str]:
    cols = (["attributes.`Dataset`"] + [f"metrics.`{m}`" for m in sweep.metric_columns]
            + [f"params.`{p}`" for p in sweep.param_columns])  # fmt: skip
    section = "finesweep-sweep"

    def card(uuid: str, kind: str, **extra: Any) -> dict[str, Any]:
        return {"uuid": uuid, "type": kind, "runsCountToCompare": 100, "metricSectionId": section,
                "deleted": False, "isGenerated": False, **extra}  # fmt: skip

    def line(uuid: str, key: str) -> dict[str, Any]:
        return card(uuid, "LINE", metricKey=key, displayName=key, lineSmoothness=0, xAxisScaleType="linear",
                    scaleType="linear", range={}, xAxisKey="step", selectedXAxisMetricKey="", yAxisKey="metric",
                    yAxisExpressions=[], ignoreOutliers=False, useGlobalXaxisKey=True,
                    useGlobalLineSmoothing=True)  # fmt: skip

    charts = [line("metric-by-epoch", sweep.metric),
              card("metric-per-trial", "BAR", metricKey=sweep.metric, displayName=sweep.metric),
              card("search-space", "PARALLEL", displayName="Search space", selectedParams=sweep.searched[:5],
                   selectedMetrics=[sweep.metric], showAllRuns=True)]  # fmt: skip
    if sweep.searched:
        charts.append(card("param-vs-metric", "SCATTER", displayName=f"{sweep.searched[0]} vs. {sweep.metric}",
                           xaxis={"key": sweep.searched[0], "type": "PARAM"},
                           yaxis={"key": sweep.metric, "type": "METRIC"}))  # fmt: skip
    charts += [line(f"loss-{m}", m) for m in sweep.loss_metrics[: 6 - len(charts)]]
    page = {
        "selectedColumns": cols, "columnOrder": [], "runsExpanded": {sweep.parent_id: True},
        # the parent run carries sweep-wide figures, not a trial's curves: hidden from the charts
        "runsVisibilityMap": {sweep.parent_id: False}, "runsHidden": [sweep.parent_id], "runsHiddenMode": "SHOW_ALL",
        "compareRunCharts": charts,
        "compareRunSections": [{"uuid": section, "name": f"Sweep {sweep.name}: {sweep.metric}", "display": True,
                                "isReordered": False, "deleted": False, "isGenerated": False}],
        "hideEmptyCharts": True,
    }  # fmt: skip
    colors = {run.info.run_id: PALETTE[i % len(PALETTE)] for i, run in enumerate(sweep.trials)}
    return {
        f'MLflowLocalStorage-1.1-ExperimentPage-["{sweep.experiment_id}"]-ReactComponentState': json.dumps(page),
        "experimentRunColors": json.dumps(colors),
        # the assistant panel opens by itself on a first visit and covers a third of the page
        "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true",
        "mlflow.assistant.panelOpen_v1": "false",
    }


# --------------------------------------------------------------------------------------------------
# the browser


def start_browser(chromium: str, chromedriver: str, width: int, height: int) -> Any:
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--hide-scrollbars",
                "--force-device-scale-factor=1", f"--window-size={width},{height}", "--lang=en-US"):  # fmt: skip
        options.add_argument(arg)
    try:
        driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    except WebDriverException as exc:  # e.g. a chromedriver of another version than chromium
        first = (exc.msg or str(exc)).strip().splitlines()[0]
        raise Problem(f"{chromedriver} could not start {chromium}: {first}") from None
    driver.set_page_load_timeout(60)
    return driver


def viewport(driver: Any, width: int, height: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip


def wait_for(driver: Any, script: str, timeout_s: float, *args: Any) -> bool:
    """Poll a JS predicate (``return ...``) until true or the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if driver.execute_script(script, *args):
                return True
        time.sleep(0.5)
    return False


TEXT_HAS_ALL = "const t = document.body.innerText; return arguments[0].every(s => t.includes(s));"
MISSING_TEXT = "const t = document.body.innerText; return arguments[0].filter(s => !t.includes(s));"
# Plotly's hover toolbar shows on every chart in a headless window; hidden for the picture only.
HIDE_MODEBAR = """const s = document.createElement('style'); s.id = 'finesweep-shot';
s.textContent = '.modebar-container, .modebar { display: none !important; }'; document.head.appendChild(s);"""


def in_model_training(driver: Any) -> bool:
    """Whether the sidebar's GenAI / Model training switch is on "Model training"."""
    return bool(driver.execute_script("""
        const t = document.body.innerText;
        return location.href.includes('workflowType=machine_learning') && t.includes('Model registry')
               && !t.includes('Prompts & versions');"""))  # fmt: skip


def click_model_training(driver: Any) -> bool:
    from selenium.webdriver.common.by import By

    for el in driver.find_elements(By.XPATH, "//*[@role='button'][normalize-space(.)='Model training']"):
        try:
            el.click()
        except Exception:  # covered by a first-visit popover: click it the way the page's own code would
            try:
                driver.execute_script("arguments[0].click();", el)
            except Exception:
                continue
        time.sleep(2)
        return True
    return False


def open_page(driver: Any, url: str, expect: list[str], timeout_s: float) -> list[str]:
    """Open a UI page in the model-training view; returns the expected texts that did not show."""
    driver.get(url)
    if not wait_for(driver, TEXT_HAS_ALL, timeout_s, expect):
        if not in_model_training(driver) and click_model_training(driver):
            print("  the page came up in the GenAI view: clicked the 'Model training' switch", flush=True)
            driver.get(url)
            wait_for(driver, TEXT_HAS_ALL, timeout_s, expect)
    return driver.execute_script(MISSING_TEXT, expect)


def save_png(driver: Any, path: Path) -> str:
    """Viewport screenshot; re-encoded with a 256-colour palette if over 400 KB."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    driver.execute_script("if (!document.getElementById('finesweep-shot')) {" + HIDE_MODEBAR + "}")
    time.sleep(0.3)
    data = driver.get_screenshot_as_png()
    path.write_bytes(data)
    if len(data) > MAX_PNG_BYTES:
        with Image.open(path) as img:
            img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    with Image.open(path) as img:
        size = f"{img.width}x{img.height}"
    return f"{path} ({size}, {path.stat().st_size // 1024} KB)"


# the chart view's first section and its first chart's title: a section header is the line before
# its "(N)" chart count, and the first chart's title follows its "Add chart" button
FIRST_CHARTS = """const t = document.body.innerText.split('\\n').map(s => s.trim()).filter(s => s);
const at = t.findIndex(s => /^\\(\\d+\\)$/.test(s)); if (at < 1) return [];
const rest = t.slice(at + 1).filter(s => s !== 'Add chart');
return [t[at - 1], rest[0] || ''];"""


def fresh_chart_view(driver: Any, url: str, sweep: Sweep, out: Path, timeout_s: float) -> list[str]:
    """The chart view in a fresh profile: its first chart must be the objective's (the parent run's
    ``best_<metric>``, the only run shown while the sweep is collapsed, or a trial's metric)."""
    driver.get(url)
    wait_for(driver, "return document.querySelectorAll('.js-plotly-plot').length >= 1", timeout_s)
    time.sleep(2)
    save_png(driver, out / "mlflow-charts-fresh.png")
    section, chart = (driver.execute_script(FIRST_CHARTS) or ["(none)", "(none)"])[:2]
    print(f"fresh chart view: first section {section!r}, first chart {chart!r}", flush=True)
    if chart not in (sweep.metric, f"best_{sweep.metric}"):
        return [f"fresh chart view: the first chart is {chart!r} (section {section!r}), not {sweep.metric}'s"]
    return []


def logged_model_page(driver: Any, base: str, tracking: str, sweep: Sweep, out: Path, timeout_s: float) -> list[str]:
    """The logged model behind the sweep's registered @champion: its page must list that version."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking, registry_uri=tracking)
    ids = {run.info.run_id for run in sweep.trials}
    quoted = "', '".join(sorted(ids))
    # search_model_versions leaves aliases empty: each registered name's @champion is read by alias
    names = {v.name for v in client.search_model_versions(f"run_id IN ('{quoted}')")}
    versions = []
    for name in sorted(names):
        with contextlib.suppress(Exception):
            champion = client.get_model_version_by_alias(name, "champion")
            if champion.run_id in ids:
                versions.append(champion)
    if not versions:
        print("no registered @champion from this sweep: the logged-model page is not checked", flush=True)
        return []
    version = versions[0]
    model_id = version.model_id or version.source.split("/models/")[-1].split("/")[0]
    expect = ["Model versions", version.name, f"v{version.version}"]
    missing = open_page(driver, f"{base}/#/experiments/{sweep.experiment_id}/models/{model_id}?{WORKFLOW}", expect, timeout_s)
    time.sleep(1)
    save_png(driver, out / "mlflow-logged-model.png")
    print(f"logged model {model_id}: {'lists' if not missing else 'does not list'} {version.name} v{version.version}", flush=True)
    return [f"logged model page: not shown: {', '.join(missing)}"] if missing else []


def take_screenshots(args: argparse.Namespace, url: str, tracking: str) -> int:
    sweep = read_sweep(tracking, args.experiment, args.sweep, args.metric, args.metric_columns, args.param_columns)
    print(f"sweep {sweep.name} in experiment {sweep.experiment!r} (id {sweep.experiment_id}): {len(sweep.trials)} "
          f"trial run(s), metric {sweep.metric} ({sweep.mode})", flush=True)  # fmt: skip
    base = url.rstrip("/")
    out = Path(args.out)
    names = [run.info.run_name for run in sweep.trials if run.info.run_name]
    failed: list[str] = []
    saved: list[str] = []
    t0 = time.monotonic()
    driver = start_browser(args.chromium, args.chromedriver, args.width, args.height)
    try:
        runs = f"{base}/#/experiments/{sweep.experiment_id}/runs"
        # First as a new user sees it, before any stored choice: the chart view's first charts, and
        # the champion's logged model with its registered version.
        failed += fresh_chart_view(driver, f"{runs}?{WORKFLOW}&compareRunsMode=CHART", sweep, out, args.timeout)
        failed += logged_model_page(driver, base, tracking, sweep, out, args.timeout)
        saved += [str(out / name) for name in ("mlflow-charts-fresh.png", "mlflow-logged-model.png") if (out / name).is_file()]
        # Then seed the UI's own stored choices on the server's origin, and open the pages again.
        driver.get(f"{base}/health")
        for key, value in ui_state(sweep).items():
            driver.execute_script("window.localStorage.setItem(arguments[0], arguments[1]);", key, value)

        rows = len(sweep.trials) + 1
        viewport(driver, args.width, min(args.height, max(560, 330 + 33 * rows)))
        missing = open_page(driver, f"{runs}?{WORKFLOW}", names + sweep.metric_columns + ["Dataset"], args.timeout)
        time.sleep(1.5)
        saved.append(save_png(driver, out / "mlflow-runs-table.png"))
        if missing or not in_model_training(driver):
            failed.append(f"runs table: not shown: {', '.join(missing) or 'the model-training view'}")

        viewport(driver, args.width, args.height)
        missing = open_page(driver, f"{runs}?{WORKFLOW}&compareRunsMode=CHART", names + [sweep.metric], args.timeout)
        wait_for(driver, "return document.querySelectorAll('.js-plotly-plot').length >= 4", args.timeout)
        time.sleep(2)
        saved.append(save_png(driver, out / "mlflow-charts.png"))
        if missing:
            failed.append(f"chart view: not shown: {', '.join(missing)}")

        best = sweep.best
        if not args.no_run_page and best is not None:
            name = best.info.run_name or best.info.run_id
            url_run = f"{runs}/{best.info.run_id}?{WORKFLOW}"
            missing = open_page(driver, url_run, [name, "Datasets", "Tags", "Metrics"], args.timeout)
            time.sleep(1.5)
            saved.append(save_png(driver, out / "mlflow-run.png"))
            if missing:
                failed.append(f"run page of {name}: not shown: {', '.join(missing)}")
    finally:
        driver.quit()
    for line in saved:
        print(f"saved {line}")
    print(f"browser time {time.monotonic() - t0:.1f} s")
    for line in failed:
        print(f"warning: {line}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--tracking-uri", help="sqlite:///path.db or a file store; a server is started for it")
    where.add_argument("--url", help="URL of a running MLflow server, e.g. http://127.0.0.1:5000")
    parser.add_argument("--experiment", default="finesweep-quickstart", help="experiment name (%(default)s)")
    parser.add_argument("--sweep", help="sweep (parent run) name; default: the newest in the experiment")
    parser.add_argument("--metric", help="metric to show; default: the sweep's own (finesweep.metric)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"), help="output folder (docs/images)")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--metric-columns", type=int, default=3, help="metric columns in the table (%(default)s)")
    parser.add_argument("--param-columns", type=int, default=3, help="parameter columns in the table (%(default)s)")
    parser.add_argument("--no-run-page", action="store_true", help="skip the trial's run page")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for each page (%(default)s)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--chromedriver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    args = parser.parse_args(argv)
    try:
        check_browser(args.chromium, args.chromedriver)
        if args.tracking_uri and args.tracking_uri.startswith(("http://", "https://")):
            args.url, args.tracking_uri = args.tracking_uri, None
        if args.url:
            if not healthy(args.url.rstrip("/")):
                raise Problem(f"no MLflow server answers {args.url.rstrip('/')}/health")
            return take_screenshots(args, args.url, args.url)
        with mlflow_server(args.tracking_uri, args.timeout * 2) as url:
            return take_screenshots(args, url, url)
    except Problem as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
