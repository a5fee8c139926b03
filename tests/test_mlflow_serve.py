"""MLflow's own model server (``mlflow models serve``) on the champion of each task: a LoRA
classifier, a dense (contrastive) encoder and a sparse encoder, each logged the way a trial logs
its model (``log_trial_model``) and registered the way promotion registers it. Every server is a
real process on 127.0.0.1, and its REST answers are the rows ``finesweep predict --json`` prints."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TEXTS = ["i feel wonderful today", "서울은 대한민국의 수도이다."]
LABELS = ["sadness", "joy", "anger"]


def _card(folder: Path, tiny_bert: Path, **fields) -> None:
    card = {"base_model": {"reference": str(tiny_bert)}, "max_length": 32, **fields}
    (folder / "finesweep_model.json").write_text(json.dumps(card), encoding="utf-8")


def _classifier(folder: Path, tiny_bert: Path) -> Path:
    """tiny_bert with a LoRA adapter and a classification head, saved as a trial saves it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    base = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=len(LABELS))
    model = get_peft_model(base, LoraConfig(task_type="SEQ_CLS", r=2, target_modules=["query", "value"], init_lora_weights=False))
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(folder)
    _card(folder, tiny_bert, task="text_classification", finetuning="lora", label_names=LABELS)
    return folder


def _encoder(folder: Path, tiny_bert: Path, task: str) -> Path:
    """tiny_bert as a fully fine-tuned encoder of ``task`` (a fresh masked-LM head when sparse)."""
    import torch
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    torch.manual_seed(0)
    loader = AutoModelForMaskedLM if task == "sparse_encoder" else AutoModel
    loader.from_pretrained(tiny_bert).save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(folder)
    _card(folder, tiny_bert, task=task, finetuning="full",
          params={"query_prefix": "query: ", "passage_prefix": "passage: ", "max_length": 32, "max_query_length": 16})  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def registry(tmp_path_factory, tiny_bert) -> str:
    """A SQLite store where each task's model is a trial's logged model, registered as @champion."""
    from mlflow.tracking import MlflowClient

    from finesweep.promotion.registry import CHAMPION, _register
    from finesweep.tracking.models import log_trial_model

    root = tmp_path_factory.mktemp("serve")
    store = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(store, registry_uri=store)
    experiment = client.create_experiment("serve", artifact_location=str(root / "artifacts"))
    folders = {"clf": _classifier(root / "clf", tiny_bert), "dense": _encoder(root / "dense", tiny_bert, "contrastive_embedding"),
               "sparse": _encoder(root / "sparse", tiny_bert, "sparse_encoder")}  # fmt: skip
    for name, folder in folders.items():
        run = client.create_run(experiment, run_name=f"{name}-trial")
        uri = log_trial_model(client, run.info.run_id, folder, f"{name}-trial")
        client.set_terminated(run.info.run_id)
        version = _register(client, name, client.get_run(run.info.run_id), uri, tags={})
        client.set_registered_model_alias(name, CHAMPION, version)
    return store


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(store: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["MLFLOW_TRACKING_URI"] = store
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # mlflow starts uvicorn from PATH
    return env


def _post(port: int, body: dict) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def _serve(store: str, uri: str, log: Path) -> tuple[subprocess.Popen, int]:
    """``mlflow models serve`` in its own process group; returns once /ping answers."""
    port = _free_port()
    command = [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", uri, "--env-manager", "local",
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
    with log.open("w") as out:
        server = subprocess.Popen(command, env=_env(store), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as answer:
                if answer.status == 200:
                    return server, port
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    _stop(server)
    pytest.fail(f"mlflow models serve did not answer /ping (exit {server.poll()}):\n{log.read_text()[-3000:]}")


def _stop(server: subprocess.Popen) -> None:
    """End the server and its uvicorn worker: the process group this test started, by its pid."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


def _predicted(store: str, uri: str, tmp_path: Path) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "finesweep", "predict", "--model", uri, "--json", *TEXTS], env=_env(store),
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def _same(served: object, printed: object) -> bool:
    """Equal, floats within 1e-5 (one process's float32 arithmetic against another's)."""
    if isinstance(printed, dict):
        return isinstance(served, dict) and served.keys() == printed.keys() and all(_same(served[k], printed[k]) for k in printed)
    if isinstance(printed, list):
        return isinstance(served, list) and len(served) == len(printed) and all(map(_same, served, printed))
    if isinstance(printed, float):
        return isinstance(served, (int, float)) and abs(served - printed) <= 1e-5
    return served == printed


@pytest.mark.parametrize("name, field", [("clf", "label"), ("sparse", "terms"),
                                         # CI time: one pyfunc class (FinesweepTextEncoder) serves both encoders
                                         pytest.param("dense", "vector", marks=pytest.mark.heavy)])
def test_mlflow_models_serve_answers_what_finesweep_predict_prints(registry, tmp_path, name, field):
    uri = f"models:/{name}@champion"
    printed = _predicted(registry, uri, tmp_path)
    server, port = _serve(registry, uri, tmp_path / "server.log")
    try:
        answer = _post(port, {"dataframe_records": [{"text": text} for text in TEXTS]})
    finally:
        _stop(server)
    served = answer["predictions"]
    assert [row["text"] for row in served] == TEXTS and all(field in row for row in served), served
    assert _same(served, printed), (served, printed)
