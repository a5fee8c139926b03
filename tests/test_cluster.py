"""Cluster use: cluster.yaml against Ray's own schema, and Ray Jobs submission to a real local head."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from processes import stop_group

REPO = Path(__file__).resolve().parents[1]


def test_cluster_yaml_passes_rays_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((REPO / "cluster.yaml").read_text())
    validate_config(prepare_config(config))
    assert set(config["available_node_types"]) == {"head", "gpu_worker"}
    assert config["available_node_types"]["gpu_worker"]["max_workers"] > config["available_node_types"]["gpu_worker"]["min_workers"]
    broken = {**config, "max_workerz": 3}
    with pytest.raises(Exception, match="max_workerz"):
        validate_config(prepare_config(broken))


def test_cluster_yaml_keeps_results_and_artifacts_in_one_bucket_with_roles_not_keys():
    import json

    text = (REPO / "cluster.yaml").read_text()
    config = yaml.safe_load(text)
    settings = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert sum(line.count("YOUR-BUCKET") for line in settings) == 1, "one bucket name to replace"
    head_start = " ".join(config["head_start_ray_commands"])
    assert 'FINESWEEP_STORAGE_PATH="s3://$FINESWEEP_BUCKET/sweeps"' in head_start
    assert "MLFLOW_TRACKING_URI=http://127.0.0.1:5000" in head_start
    assert '--artifacts-destination "s3://$FINESWEEP_BUCKET/mlflow-artifacts"' in " ".join(config["head_setup_commands"])
    worker = config["available_node_types"]["gpu_worker"]["node_config"]
    assert worker["IamInstanceProfile"] == {"Name": "finesweep-worker"}
    assert "AWS_SECRET_ACCESS_KEY" not in text and "aws_secret_access_key" not in text.lower()

    policies = {p.name: json.loads(p.read_text()) for p in (REPO / "deploy" / "aws").glob("*.json")}
    assert set(policies) == {"bucket-policy.json", "pass-worker-role.json", "ec2-trust.json"}
    bucket = [r for statement in policies["bucket-policy.json"]["Statement"] for r in statement["Resource"]]
    assert bucket == ["arn:aws:s3:::YOUR-BUCKET", "arn:aws:s3:::YOUR-BUCKET/*"], "the bucket and nothing else"
    assert policies["pass-worker-role.json"]["Statement"][0]["Resource"].endswith(":role/finesweep-worker")
    readme = (REPO / "docs" / "cluster.md").read_text()  # the manual's cluster page
    for name in policies:
        assert f"deploy/aws/{name}" in readme, f"the cluster page says how to use {name}"


def test_submit_entrypoint_is_relative_and_quoted(tmp_path):
    from finesweep.cluster.submit import build_entrypoint
    from finesweep.errors import FinesweepError

    job = tmp_path / "jobs" / "x.yaml"
    job.parent.mkdir()
    job.touch()
    command = build_entrypoint(job, tmp_path, "s1", ["train.seed=3", "dataset.name=emotion carer"])
    assert command == "finesweep sweep jobs/x.yaml --name s1 --set train.seed=3 --set 'dataset.name=emotion carer'"
    with pytest.raises(FinesweepError, match="inside --working-dir"):
        build_entrypoint(Path("/elsewhere/job.yaml"), tmp_path, "s1", [])


def _free_port() -> int:
    from finesweep.tuning.execution.ray_runtime import free_local_port

    return free_local_port()


@pytest.fixture
def local_head(tmp_path):
    """`ray start --head --block` on 127.0.0.1 in its own session; stopped by its process group."""
    dashboard = _free_port()
    url = f"http://127.0.0.1:{dashboard}"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "RAY_AUTH_MODE": "token",
        "RAY_API_SERVER_ADDRESS": url,  # the Train placement-group cleaner's state queries go here
    }
    env.pop("RAY_ADDRESS", None)
    log = (tmp_path / "head.log").open("w")
    head = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", f"--port={_free_port()}",
         "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
         "--num-cpus=2", "--include-dashboard=true", "--disable-usage-stats",
         # the session's own Ray holds the default agent ports (52365 and others): a second Ray on
         # this machine whose dashboard agent cannot bind fails every job with HTTP 500
         f"--dashboard-agent-listen-port={_free_port()}", f"--dashboard-agent-grpc-port={_free_port()}",
         f"--metrics-export-port={_free_port()}", f"--runtime-env-agent-port={_free_port()}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_until_jobs_run(url, env, tmp_path)
        yield url, dict(env)
    finally:
        assert stop_group(head) == [], "processes of the head outlived SIGKILL"


def _wait_until_jobs_run(url: str, env: dict, tmp_path: Path) -> None:
    """The head is ready once a trivial job runs (the dashboard agent registers after the head)."""
    deadline = time.time() + 180
    while time.time() < deadline:
        probe = subprocess.run(
            [sys.executable, "-m", "ray.scripts.scripts", "job", "submit", "--address", url, "--", "true"],
            env=env, capture_output=True, text=True, timeout=120,
        )
        if probe.returncode == 0:
            return
        time.sleep(3)
    pytest.fail("the local Ray head never ran a job: " + (tmp_path / "head.log").read_text()[-2000:])


def _job_dir(tmp_path: Path, tiny_bert: Path) -> Path:
    work = tmp_path / "work"
    (work / "jobs").mkdir(parents=True)
    job = {
        "name": "submitted",
        "dataset": {"name": "emotion_carer", "max_train_samples": 60, "max_eval_samples": 30},
        "model": {"base": str(tiny_bert)},
        "train": {"epochs": 1, "max_length": 24, "batch_size": 16},
        "search": {"num_samples": 2, "seed": 1,
                   "overrides": {"learning_rate": {"distribution": "loguniform", "low": 1e-4, "high": 1e-2}}},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9},
        "storage_path": str(tmp_path / "results"),
        "tracking": {"experiment": "submitted"},
        "verbose": 0,
    }  # fmt: skip
    (work / "jobs" / "tiny.yaml").write_text(yaml.safe_dump(job))
    return work


@pytest.mark.slow
@pytest.mark.heavy
def test_ray_job_submit_and_finesweep_submit_on_a_real_head(tmp_path, mlflow_store, tiny_bert, data_dir, local_head):
    from mlflow.tracking import MlflowClient

    url, env = local_head
    work = _job_dir(tmp_path, tiny_bert)
    store = mlflow_store
    env = {**env, "MLFLOW_TRACKING_URI": store, "FINESWEEP_DATA_DIR": str(data_dir)}
    plain = subprocess.run(
        [sys.executable, "-m", "ray.scripts.scripts", "job", "submit", "--address", url, "--working-dir", str(work),
         "--runtime-env-json", f'{{"env_vars": {{"MLFLOW_TRACKING_URI": "{store}", "FINESWEEP_DATA_DIR": "{data_dir}"}}}}',
         "--", "finesweep", "sweep", "jobs/tiny.yaml", "--name", "via-ray-job-submit"],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert plain.returncode == 0, plain.stdout[-3000:] + plain.stderr[-3000:]
    assert "succeeded" in (plain.stdout + plain.stderr).lower()

    wrapped = subprocess.run(
        [sys.executable, "-m", "finesweep", "submit", "jobs/tiny.yaml", "--address", url, "--working-dir", ".",
         "--name", "via-finesweep-submit", "--follow"],
        env=env, cwd=work, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert wrapped.returncode == 0, wrapped.stdout[-3000:] + wrapped.stderr[-3000:]
    assert "submitted Ray job" in wrapped.stdout and "SUCCEEDED" in wrapped.stdout
    assert "Leaderboard for sweep 'via-finesweep-submit'" in wrapped.stdout, "--follow streams the job's output"

    # without a tracking URI the store would sit in Ray's temporary copy of the working directory:
    # the sweep refuses to start (exit 2, one line), in the job and already at `finesweep submit`
    bare = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}
    lost = subprocess.run(
        [sys.executable, "-m", "ray.scripts.scripts", "job", "submit", "--address", url, "--working-dir", str(work),
         "--runtime-env-json", f'{{"env_vars": {{"FINESWEEP_DATA_DIR": "{data_dir}"}}}}',
         "--", "finesweep", "sweep", "jobs/tiny.yaml", "--name", "would-be-lost"],
        env=bare, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = lost.stdout + lost.stderr
    assert lost.returncode != 0 and "temporary working directory" in output and "MLFLOW_TRACKING_URI" in output, output[-3000:]
    refused = subprocess.run([sys.executable, "-m", "finesweep", "submit", "jobs/tiny.yaml", "--address", url],
                             env=bare, cwd=work, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert refused.returncode == 2 and "temporary working directory" in refused.stderr, refused.stderr
    assert "submitted Ray job" not in refused.stdout

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("submitted").experiment_id
    for sweep in ("via-ray-job-submit", "via-finesweep-submit"):
        runs = client.search_runs([experiment], filter_string=f"tags.`finesweep.sweep` = '{sweep}'")
        assert sorted(r.data.tags["finesweep.role"] for r in runs) == ["sweep", "trial", "trial"]


def test_submit_refuses_a_broken_job_before_contacting_a_cluster(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: {name: emotion_carer}\nsearch: {algorithm: tpee}\n")
    done = subprocess.run(
        [sys.executable, "-m", "finesweep", "submit", str(bad), "--address", "http://127.0.0.1:9"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and "search.algorithm" in done.stderr


@pytest.mark.parametrize(
    ("uri", "path"),
    [("sqlite:///mlflow.db", "mlflow.db"), ("sqlite:////srv/mlflow.db", "/srv/mlflow.db"),
     ("file:///srv/mlruns", "/srv/mlruns"), ("file:./mlruns", "./mlruns"), ("mlruns", "mlruns"),
     ("http://127.0.0.1:5000", None), ("postgresql://u@db/mlflow", None), ("sqlite://", None)],
)  # fmt: skip
def test_local_store_paths_follow_each_schemes_slashes(uri, path):
    from finesweep.cluster.job_paths import local_store_path

    assert local_store_path(uri) == (Path(path) if path else None)


def test_an_absolute_store_is_kept_and_a_relative_one_refused_inside_a_ray_job(tmp_path):
    from finesweep.cluster.job_paths import ephemeral_problems

    job_dir = tmp_path / "runtime_resources" / "working_dir_files" / "_ray_pkg_x"
    job_dir.mkdir(parents=True)
    outside = tmp_path / "store"
    for uri in (f"file://{outside}", f"sqlite:///{outside / 'mlflow.db'}", "http://127.0.0.1:5000"):
        assert ephemeral_problems(uri, str(outside / "results"), job_dir) == [], uri
    for uri in ("sqlite:///mlflow.db", "file:./mlruns", "mlruns", f"file://{job_dir / 'mlruns'}"):
        [problem] = ephemeral_problems(uri, str(outside / "results"), job_dir)
        assert problem.startswith("tracking: the MLflow store") and "temporary working directory" in problem, uri


def _submit(job: Path, env_storage: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}
    env.pop("FINESWEEP_STORAGE_PATH", None)
    if env_storage:
        env["FINESWEEP_STORAGE_PATH"] = env_storage
    return subprocess.run([sys.executable, "-m", "finesweep", "submit", str(job), "--address", "http://127.0.0.1:9"],
                          capture_output=True, text=True, timeout=120, env=env)  # fmt: skip


def test_submit_refuses_a_named_relative_storage_path_that_the_environment_does_not_replace(tmp_path, data_dir):
    # the loader applies $FINESWEEP_STORAGE_PATH only to jobs that name no storage_path, on the
    # cluster as here: a job naming ./finesweep_results keeps it there, and Ray deletes it
    named = tmp_path / "named.yaml"
    named.write_text("dataset: {name: emotion_carer}\nstorage_path: ./finesweep_results\n")
    done = _submit(named, "s3://bucket/sweeps")
    assert done.returncode == 2, done.stderr
    assert "storage_path: './finesweep_results' resolves inside this Ray job's temporary working directory" in done.stderr
    unnamed = tmp_path / "unnamed.yaml"
    unnamed.write_text("dataset: {name: emotion_carer}\n")
    done = _submit(unnamed, "s3://bucket/sweeps")
    assert "storage_path" not in done.stderr, "the environment's bucket replaces the default of a job naming none"
    done = _submit(unnamed, None)
    assert done.returncode == 2 and "storage_path: './finesweep_results' resolves inside" in done.stderr
