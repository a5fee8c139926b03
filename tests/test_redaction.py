"""Secrets never reach MLflow: secret environment values and URL passwords are masked in params,
tags and the job/config artifacts, written through the real tracker into a real SQLite store."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from finesweep.redact import MASK, redact, secret_values
from finesweep.tracking.runs import SweepTracker

TOKEN = "hf_s3cr3tT0kenValue"
PASSWORD = "hunter2-pw"


def test_redact_masks_url_passwords_and_secret_env_values():
    env = {"HF_TOKEN": TOKEN, "MY_API_KEY": "k-123456", "PATH": "/usr/bin:/bin", "DEBUG": "1"}
    assert secret_values(env) == [TOKEN, "k-123456"]
    text = f"https://bob:{PASSWORD}@mlflow.example.com/ and token {TOKEN}; path /usr/bin"
    assert redact(text, env) == f"https://bob:{MASK}@mlflow.example.com/ and token {MASK}; path /usr/bin"
    assert redact("sqlite:///tmp/mlflow.db", env) == "sqlite:///tmp/mlflow.db"


@pytest.mark.parametrize(
    "text, shown, hidden",
    [
        ("http://ghp_Tok3nValue@127.0.0.1:5000", "http://***@127.0.0.1:5000", "ghp_Tok3nValue"),
        ("https://alice:Pw-9876@host/p", "https://alice:***@host/p", "Pw-9876"),
        ("http://host:5000/?token=Abc123&experiment=1", "?token=***&experiment=1", "Abc123"),
        ("https://host/api?access_token=Zz99#top", "?access_token=***#top", "Zz99"),
        ("https://host/x?api_key=K3y&sig=S1g", "?api_key=***&sig=***", "K3y"),
        ("s3://b/p?X-Amz-Signature=deadbeef77", "?X-Amz-Signature=***", "deadbeef77"),
        ("error: could not reach http://tok-en-1234@h:5000 (refused)", "http://***@h:5000 (refused)", "tok-en-1234"),
    ],
)
def test_one_rule_masks_every_credential_shape_in_a_url(text, shown, hidden):
    from finesweep.redact import redact, safe_for_console

    for masked in (redact(text, environ={}), safe_for_console(text)):
        assert shown in masked and hidden not in masked, masked


def test_plain_urls_and_addresses_are_left_alone():
    from finesweep.redact import redact

    for text in ("http://127.0.0.1:5000/#/experiments/1", "mail alice@example.com", "s3://bucket/sweeps/R", "?q=token"):
        assert redact(text, environ={}) == text


def test_secrets_never_logged_as_params_tags_or_config_artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = SweepTracker(store, "secrets", "s")
    tracker.parent.start(
        tags={"finesweep.base_model": f"https://user:{PASSWORD}@hub.example/model"},
        params={"tracking.uri": f"http://alice:{PASSWORD}@127.0.0.1:5000", "dataset.path": f"/data/{TOKEN}.csv"},
    )
    job = tmp_path / "job.yaml"
    job.write_text(f"tracking:\n  uri: http://alice:{PASSWORD}@127.0.0.1:5000\n# token {TOKEN}\n")
    tracker.parent.log_file(job, "job")
    tracker.trials.child_run("t1", {"learning_rate": 1e-3, "note": TOKEN})
    tracker.trials.finish("t1", "failed", f"RuntimeError: could not reach https://x:{PASSWORD}@h with {TOKEN}")
    tracker.parent.finish({"n_trials": 1}, {"finesweep.status": "finished"})

    client = tracker.client
    runs = client.search_runs([tracker.parent.experiment_id])
    assert len(runs) == 2
    for run in runs:
        for value in [*run.data.params.values(), *run.data.tags.values()]:
            assert TOKEN not in value and PASSWORD not in value, value
    parent = next(r for r in runs if r.data.tags["finesweep.role"] == "sweep")
    assert parent.data.params["tracking.uri"] == f"http://alice:{MASK}@127.0.0.1:5000"
    logged = Path(client.download_artifacts(parent.info.run_id, "job/job.yaml", str(tmp_path / "dl")))
    assert TOKEN not in logged.read_text() and PASSWORD not in logged.read_text() and MASK in logged.read_text()
    child = next(r for r in runs if r.data.tags["finesweep.role"] == "trial")
    error = Path(client.download_artifacts(child.info.run_id, "error.txt", str(tmp_path / "dl2"))).read_text()
    assert TOKEN not in error and PASSWORD not in error


def test_secret_lookup_survives_another_thread_changing_the_environment(monkeypatch):
    # MLflow's telemetry thread sets and unsets a variable while callbacks redact (a KeyError once).
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            os.environ["FINESWEEP_TEST_CHURN"] = "x"
            os.environ.pop("FINESWEEP_TEST_CHURN", None)

    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    try:
        for _ in range(3000):
            assert TOKEN in secret_values()
    finally:
        stop.set()
        thread.join()


def _all_recorded_text(client, runs, folder: Path) -> str:
    """Every param, tag and text artifact of ``runs``, concatenated."""
    parts = []
    for run in runs:
        parts.extend([*run.data.params.keys(), *run.data.params.values(), *run.data.tags.values()])
        local = Path(client.download_artifacts(run.info.run_id, "", str(folder / run.info.run_id)))
        for path in local.rglob("*"):
            if path.is_file() and path.suffix in (".yaml", ".yml", ".json", ".txt", ".md", ".html", ""):
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(parts)


@pytest.mark.slow
def test_no_secret_in_the_console_or_mlflow_of_a_sweep_and_a_promotion(tmp_path, mlflow_store, tiny_bert):
    import subprocess
    import sys

    import yaml
    from mlflow.tracking import MlflowClient

    secret = "tok-SECRET-98765xyz"
    store = mlflow_store
    job = {
        "name": "secrets",
        "description": f"made with token {secret}",  # a secret pasted into a job file
        "dataset": {"name": "emotion_carer", "max_train_samples": 90, "max_eval_samples": 60},
        "model": {"base": str(tiny_bert)},
        "train": {"epochs": 1, "max_length": 32, "batch_size": 16},
        "search": {"num_samples": 1, "overrides": {"lora_r": {"distribution": "choice", "values": [4]}}},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9},
        "tracking": {"uri": store, "experiment": "secrets"},
        "storage_path": str(tmp_path / "results"),
        "verbose": 1,
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    env = {**os.environ, "FINESWEEP_TEST_API_TOKEN": secret, "HF_TOKEN": "hf_" + secret}
    outputs = []
    for args in (["sweep", str(path), "--name", "s1"], ["promote-best-model", "--sweep", "s1", "--model-name", "m",
                                                          "--tracking-uri", store, "--force"]):  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "finesweep", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append(done.stdout + done.stderr)
    console = "\n".join(outputs)
    assert secret not in console
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("secrets").experiment_id])
    assert len(runs) == 2
    recorded = _all_recorded_text(client, runs, tmp_path / "artifacts")
    assert secret not in recorded, "a secret reached MLflow"
    assert MASK in recorded, "the pasted token was recorded masked"
    versions = client.search_model_versions("name = 'm'")
    assert versions and all(secret not in str(v.tags) for v in versions)


def test_printed_rows_keep_their_tabs_and_escape_every_control_sequence():
    from finesweep.redact import printable_row

    row = printable_row("1\tclear\x1b[2J screen\tline\nbreak")
    assert row == "1\tclear\\x1b[2J screen\tline\\nbreak"
    assert "\x1b" not in row and row.count("\t") == 2
