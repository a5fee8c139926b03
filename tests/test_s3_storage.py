"""``storage_path: s3://bucket/prefix`` against a real S3-compatible server (moto's server mode on
127.0.0.1): the storage preflight, checkpoints and Tune's state in the bucket, models logged from
there, and no credential in MLflow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from job_parts import WITHOUT_BASELINES
from processes import S3_SECRET as SECRET
from processes import aws_env as _aws_env
from processes import bucket_keys as _keys

from finesweep.tuning.execution.ray_runtime import free_local_port

pytest.importorskip("moto.server", reason="moto[server] (the dev extra) runs the S3-compatible server")
boto3 = pytest.importorskip("boto3")


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    """This process configured for the moto server; returns a boto3 S3 client."""
    for name, value in _aws_env(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    return boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")


# -- the job file's key ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("s3://AKIAX:topsecretvalue@bucket/p", "must not hold credentials"),
        ("s3://bucket/p?access_key=AKIAX&secret_key=topsecretvalue", "must not carry query options"),
        ("ftp://host/folder", "unsupported scheme 'ftp'; allowed: a local folder, s3://bucket/prefix, gs://bucket/prefix"),
        ("s3://", "needs a bucket"),
        ("s3://bucket/../../other", "the prefix must not hold '.', '..' or empty segments"),
        ("gs://bucket/sweeps//a", "the prefix must not hold '.', '..' or empty segments"),
    ],
)
def test_storage_uri_with_credentials_or_an_unknown_scheme_is_a_config_error(tmp_path, value, fragment):
    from finesweep.config import load_job
    from finesweep.errors import ConfigError

    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({"dataset": {"name": "emotion_carer"}, "storage_path": value}))
    with pytest.raises(ConfigError) as caught:
        load_job(path)
    line = next(p for p in caught.value.problems if "storage_path" in p)
    assert f"{path}: storage_path: {fragment}" in line, line
    assert "topsecretvalue" not in line


def test_storage_path_defaults_to_the_cluster_s_environment(tmp_path):
    """$FINESWEEP_STORAGE_PATH (cluster.yaml sets it to the bucket) is the storage_path of jobs
    that set none; the job file and --set still win; a bad value is refused naming the variable."""
    from finesweep.config import load_job
    from finesweep.errors import ConfigError
    from finesweep.settings import Settings

    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({"dataset": {"name": "emotion_carer"}}))
    assert load_job(path, settings=Settings()).job.storage_path == "./finesweep_results"
    bucket = Settings.from_environment({"FINESWEEP_STORAGE_PATH": "s3://team-bucket/sweeps"})
    loaded = load_job(path, settings=bucket)
    assert loaded.job.storage_path == "s3://team-bucket/sweeps" and loaded.raw["storage_path"] == loaded.job.storage_path
    assert load_job(path, ["storage_path=/mnt/shared"], bucket).job.storage_path == "/mnt/shared"
    path.write_text(yaml.safe_dump({"dataset": {"name": "emotion_carer"}, "storage_path": "here"}))
    assert load_job(path, settings=bucket).job.storage_path == "here"
    secret = Settings.from_environment({"FINESWEEP_STORAGE_PATH": "s3://AKIAX:topsecretvalue@bucket/p"})
    path.write_text(yaml.safe_dump({"dataset": {"name": "emotion_carer"}}))
    with pytest.raises(ConfigError) as caught:
        load_job(path, settings=secret)
    (line,) = caught.value.problems
    assert line.startswith("$FINESWEEP_STORAGE_PATH: ") and "must not hold credentials" in line, line
    assert "topsecretvalue" not in line


def test_object_store_locations_keep_their_scheme():
    from finesweep.storage import as_uri, is_object_store, sweep_location

    assert sweep_location("s3://bucket/sweeps/", "S") == "s3://bucket/sweeps/S"
    assert sweep_location("rel", "S") == Path("rel").resolve() / "S"
    assert as_uri("s3://bucket/sweeps/S", "bucket/sweeps/S/t1/checkpoint_000001") == "s3://bucket/sweeps/S/t1/checkpoint_000001"
    assert as_uri("/local/S", "/local/S/t1/checkpoint_000001") == "/local/S/t1/checkpoint_000001"
    assert is_object_store("gs://b/p") and not is_object_store("./finesweep_results")


# -- preflight ---------------------------------------------------------------------------------------


def test_preflight_writes_and_removes_its_marker(s3):
    from finesweep.storage import preflight_storage

    s3.create_bucket(Bucket="preflight-ok")
    assert preflight_storage("s3://preflight-ok/sweeps") == "s3://preflight-ok/sweeps"
    assert not [k for k in _keys(s3, "preflight-ok") if "finesweep-preflight" in k], "the marker is deleted"


def test_checkpoints_are_listed_checked_and_downloaded_from_the_bucket(s3, tmp_path):
    """The driver's view of a trial's checkpoints: listed in the bucket, complete or not, downloaded."""
    import json

    from finesweep.training.checkpoint import is_complete
    from finesweep.storage import latest_complete_checkpoint, local_copy

    s3.create_bucket(Bucket="ckpt")
    root = "sweeps/S"
    for index, complete in ((1, True), (2, True), (3, False)):
        folder = f"{root}/t1/checkpoint_00000{index}"
        s3.put_object(Bucket="ckpt", Key=f"{folder}/model/weights.bin", Body=b"x" * 10)
        manifest = {"model/weights.bin": 10 if complete else 11}  # 3: a copy cut short
        s3.put_object(Bucket="ckpt", Key=f"{folder}/manifest.json", Body=json.dumps(manifest).encode())
    latest = latest_complete_checkpoint(f"s3://ckpt/{root}", "t1")
    assert latest == f"s3://ckpt/{root}/t1/checkpoint_000002"
    assert latest_complete_checkpoint(f"s3://ckpt/{root}", "absent") is None
    with local_copy(latest) as folder:
        assert is_complete(folder) and (folder / "model" / "weights.bin").read_bytes() == b"x" * 10
    assert not folder.exists(), "the download is removed after use"


def _preflight_job(tmp_path: Path, tiny_bert: Path, storage_path: str) -> Path:
    job = {
        "dataset": {"name": "emotion_carer", "max_train_samples": 60, "max_eval_samples": 30},
        "model": {"base": str(tiny_bert)},
        "search": {"num_samples": 1},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
        "storage_path": storage_path,
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def _no_runs(tmp_path: Path) -> bool:
    from mlflow.tracking import MlflowClient

    if not (tmp_path / "mlflow.db").exists():
        return True
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    return not experiments or not client.search_runs(experiments)


@pytest.mark.parametrize("case", ["missing-bucket", "closed-port"])
def test_unusable_bucket_is_refused_before_ray_with_one_line(tmp_path, tiny_bert, moto_endpoint, case):
    endpoint = moto_endpoint if case == "missing-bucket" else f"http://127.0.0.1:{free_local_port()}"
    job = _preflight_job(tmp_path, tiny_bert, "s3://no-such-bucket/sweeps")
    env = {**os.environ, **_aws_env(endpoint)}
    env.pop("RAY_ADDRESS", None)
    started = time.time()
    done = subprocess.run([sys.executable, "-m", "finesweep", "sweep", str(job)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    elapsed = time.time() - started
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert errors[0].startswith("error: `storage_path`:") and "no-such-bucket" in errors[0], errors[0]
    if case == "missing-bucket":
        assert "does not exist" in errors[0], errors[0]
    else:
        assert "cannot check bucket 'no-such-bucket'" in errors[0] and "connect" in errors[0], errors[0]
    assert SECRET not in done.stdout + done.stderr
    assert "Ray" not in done.stdout, "refused before Ray starts"
    assert _no_runs(tmp_path), "no MLflow run was created"
    assert elapsed < 10, f"refused after {elapsed:.1f} s (the interpreter's imports included)"


# -- a sweep -----------------------------------------------------------------------------------------


def _sweep_job(tmp_path: Path, tiny_bert: Path, bucket: str, **top) -> Path:
    job = {
        "dataset": {"name": "emotion_carer", "max_train_samples": 120, "max_eval_samples": 60},
        "model": {"base": str(tiny_bert)},
        "train": {"batch_size": 16, "max_length": 32, "epochs": 2, "lora_dropout": 0.0},
        "search": {"metric": "val_loss", "mode": "min", "num_samples": 2, "seed": 4,
                   "overrides": {"learning_rate": {"distribution": "loguniform", "low": 1e-4, "high": 1e-2}}},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9, "trial_runtime": "in_trial"},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "s3"},
        "storage_path": f"s3://{bucket}/sweeps",
        "baselines": dict(WITHOUT_BASELINES),
        "verbose": 0,
        **top,
    }  # fmt: skip
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def _sweep_env(endpoint: str, data_dir: Path) -> dict[str, str]:
    env = {**os.environ, **_aws_env(endpoint), "FINESWEEP_DATA_DIR": str(data_dir)}
    env.pop("RAY_ADDRESS", None)  # the sweep starts its own Ray, which inherits this environment
    return env


def _sweep_runs(tmp_path: Path, sweep: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("s3")
    if experiment is None:
        return client, []
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.`finesweep.sweep` = '{sweep}'")
    return client, runs


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.slow
def test_killed_driver_resumes_from_the_bucket_that_holds_every_result(tmp_path, mlflow_store, tiny_bert, data_dir, s3, moto_endpoint):
    """SIGKILL the sweep driver mid-sweep; the same name is then refused without --resume, and
    --resume reads Tune's state and the trials' checkpoints back from the bucket: nothing lost, no
    run duplicated (the sweep path is the same for a local storage_path: pyarrow file systems).
    Then every result is in the bucket, nothing on local disk, and the secret key nowhere."""
    import psutil

    s3.create_bucket(Bucket="resume")
    job = _sweep_job(tmp_path, tiny_bert, "resume", dataset={"name": "emotion_carer", "max_train_samples": 900,
                                                              "max_eval_samples": 60})  # fmt: skip
    data = yaml.safe_load(job.read_text())
    data["search"]["num_samples"] = 3
    job.write_text(yaml.safe_dump(data))
    env = _sweep_env(moto_endpoint, data_dir)
    command = [sys.executable, "-m", "finesweep", "sweep", str(job), "--name", "R"]
    log = tmp_path / "driver.log"
    with log.open("w") as out:
        driver = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline, done = time.time() + 600, []
    while time.time() < deadline and not done and driver.poll() is None:
        time.sleep(1)
        if "finesweep: data " not in log.read_text():
            continue  # the driver creates the MLflow store first: two processes must not both migrate it
        done = [r for r in _sweep_runs(tmp_path, "R")[1] if r.data.tags.get("finesweep.status") == "completed"]
    assert done and driver.poll() is None, "a trial completed before the driver was killed:\n" + log.read_text()[-3000:]
    family = psutil.Process(driver.pid).children(recursive=True)
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)
    _, alive = psutil.wait_procs(family, timeout=30)
    for process in alive:  # our own driver's Ray processes, by pid
        process.kill()
    psutil.wait_procs(alive, timeout=10)

    # the same name again without --resume is refused: it would overwrite the interrupted sweep
    refused = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "--resume" in refused.stderr, refused.stderr[-2000:]

    resumed = subprocess.run([*command, "--resume"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    client, runs = _sweep_runs(tmp_path, "R")
    trials = [r for r in runs if r.data.tags["finesweep.role"] == "trial"]
    assert len(trials) == 3 == len({r.data.tags["finesweep.trial_id"] for r in trials}), ("one run per trial", resumed.stdout[-4000:])
    assert {r.data.tags["finesweep.status"] for r in trials} == {"completed"}
    assert all(r.info.status == "FINISHED" for r in trials), "no run left RUNNING"
    [parent] = [r for r in runs if r.data.tags["finesweep.role"] == "sweep"]
    assert parent.info.status == "FINISHED" and parent.data.metrics["system/n_completed"] == 3
    assert parent.data.tags["finesweep.storage_path"] == "s3://resume/sweeps/R"
    _check_everything_is_in_the_bucket(s3, client, runs, tmp_path)
    assert SECRET not in log.read_text() + resumed.stdout + resumed.stderr, "no console line shows the secret key"


def _check_everything_is_in_the_bucket(s3, client, runs, tmp_path: Path) -> None:
    """Tune's state, every trial's checkpoints and the models logged from them are in the bucket;
    nothing is stored on this machine's disk; the secret key reached no param, tag, artifact (all
    under tmp_path) or object."""
    keys = _keys(s3, "resume", "sweeps/R/")
    assert "sweeps/R/tuner.pkl" in keys, keys
    assert any(k.startswith("sweeps/R/experiment_state") for k in keys), "Tune's experiment state is in the bucket"
    for run in (r for r in runs if r.data.tags["finesweep.role"] == "trial"):
        trial = run.data.tags["finesweep.trial_id"]
        manifests = [k for k in keys if k.startswith(f"sweeps/R/{trial}/checkpoint_") and k.endswith("/manifest.json")]
        assert manifests, f"trial {trial}'s checkpoints are in the bucket"
        assert run.data.tags["finesweep.checkpoint_path"].startswith(f"s3://resume/sweeps/R/{trial}/checkpoint_")
        assert run.data.tags.get("finesweep.model_uri"), "the model was logged from the bucket's checkpoint"
        assert [a.path for a in client.list_artifacts(run.info.run_id)], "the trial's reports were logged"
    assert not (tmp_path / "finesweep_results").exists() and not (tmp_path / "R").exists(), "nothing stored locally"
    assert not list(tmp_path.rglob("checkpoint_0*")), "no checkpoint folder on this machine's disk"
    needle = SECRET.encode()
    assert _files_containing(tmp_path, needle) == []
    for run in runs:
        assert not [t for t in [*run.data.params.values(), *run.data.tags.values()] if SECRET in t]
    assert not [k for k in keys if needle in s3.get_object(Bucket="resume", Key=k)["Body"].read()]
