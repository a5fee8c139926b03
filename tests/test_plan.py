"""`finesweep plan`: cluster specs, packing onto named shapes, ASHA's rungs and trial-epochs, warnings.

Fast: named shapes need no Ray. The plan against a running (simulated) cluster is checked in
tests/test_sim_cluster.py against what the trials then did.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from finesweep.config import load_job
from finesweep.errors import ConfigError
from finesweep.tuning.commands.preview import ClusterSpec, asha_milestones, parse_cluster_spec, plan_job, preview

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "jobs" / "quickstart.yaml"
TWO_GPU_WORKERS = ["scaling.workers_per_trial=2", "scaling.cpus_per_worker=1", "scaling.gpus_per_worker=1"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "finesweep", "plan", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def _plan(cluster: str, *overrides: str):
    return plan_job(load_job(QUICKSTART, list(overrides)), parse_cluster_spec(cluster))


@pytest.mark.parametrize(
    ("text", "nodes"),
    [
        ("3x4gpu", [{"CPU": 32.0, "GPU": 4.0}] * 3),  # 8 CPUs per GPU unless named
        ("4x8gpu:64cpu", [{"CPU": 64.0, "GPU": 8.0}] * 4),
        ("2x16cpu", [{"CPU": 16.0, "GPU": 0.0}] * 2),
        (" 1x8CPU+2x4gpu:16cpu ", [{"CPU": 8.0, "GPU": 0.0}] + [{"CPU": 16.0, "GPU": 4.0}] * 2),
    ],
)
def test_named_shapes(text, nodes):
    spec = parse_cluster_spec(text)
    assert spec.kind == "shape" and list(spec.shape) == nodes


@pytest.mark.parametrize(
    ("text", "kind", "address"),
    [
        ("local", "local", None),
        ("auto", "address", "auto"),
        ("10.0.0.5:6379", "address", "10.0.0.5:6379"),
        ("ray://head.example.com:10001", "address", "ray://head.example.com:10001"),
    ],
)
def test_local_and_running_cluster_specs(text, kind, address):
    spec = parse_cluster_spec(text)
    assert (spec.kind, spec.address) == (kind, address)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("4x8", "cannot read '4x8'"),
        ("0x8gpu", "node count must be 1 to 256"),
        ("257x1gpu", "node count must be 1 to 256"),
        ("200x1gpu+100x1gpu", "at most 256 nodes"),
        ("2x0gpu", "GPUs per node must be 1 to 64"),
        ("2x100gpu", "GPUs per node must be 1 to 64"),
        ("2x0cpu", "CPUs per node must be 1 to 4096"),
        ("4x8gpu:64", "NxMgpu:Kcpu"),
        ("4x8gpu+", "empty group"),
        ("ray://head:70000", "port 70000"),
        ("http://head:8265", "dashboard URL is for `finesweep submit`"),
        ("eight gpus", "cannot read"),
    ],
)
def test_bad_specs_are_one_line_naming_the_option(text, why):
    with pytest.raises(ConfigError) as caught:
        parse_cluster_spec(text)
    (line,) = caught.value.problems
    assert line.startswith("`--cluster`: ") and why in line
    assert f"(got {text!r})" in line and "allowed: NxMgpu" in line


def test_three_nodes_of_four_gpus_hold_six_two_worker_trials_two_per_node():
    plan = _plan("3x4gpu", *TWO_GPU_WORKERS, "search.num_samples=12")
    assert (plan.trials, plan.trials_at_once, plan.fit) == (12, 6, 6)
    assert [load.trials for load in plan.per_node] == [2, 2, 2]
    assert [load.workers for load in plan.per_node] == [4, 4, 4]
    assert sum(load.drivers for load in plan.per_node) == 6
    assert all(load.left["GPU"] == 0 for load in plan.per_node)
    text = "\n".join(plan.describe())
    assert "trials at once: 6 (room for 6; max_concurrent_trials auto)" in text
    assert "each holds 0.1 CPU (driver) + 2 worker(s) x (1 CPU, 1 GPU)" in text
    assert "nodes 2-3 (32 CPU, 4 GPU each): 2 trial(s), 4 worker(s); left 28 CPU, 0 GPU" in text


def test_a_worker_bigger_than_any_node_never_fits():
    plan = _plan("3x4gpu", "scaling.workers_per_trial=2", "scaling.gpus_per_worker=8")
    assert (plan.trials_at_once, plan.fit) == (0, 0)
    (warning,) = [w for w in plan.warnings if "never fits" in w]
    assert warning == (
        "a trial's worker needs 0.9 CPU, 8 GPU but no node of 3x4gpu has that (the largest has 32 CPU, 4 GPU): "
        "it never fits; lower scaling.gpus_per_worker"
    )
    assert "warning: a trial's worker needs" in "\n".join(plan.describe())


def test_a_trial_whose_workers_fit_only_one_by_one_never_fits():
    plan = _plan("1x1gpu", *TWO_GPU_WORKERS)
    assert plan.trials_at_once == 0
    assert any(w.startswith("a whole trial never fits: scaling: one trial needs") for w in plan.warnings)


def test_gpus_asked_of_a_cpu_only_shape():
    plan = _plan("2x16cpu", *TWO_GPU_WORKERS)
    assert plan.trials_at_once == 0
    assert plan.warnings[0].startswith("scaling.gpus_per_worker is 1 but 2x16cpu has no GPUs: the trials never fit")


def test_idle_slots_and_gpus_and_a_concurrency_cap_are_warned():
    capped = _plan("1x8gpu", "scaling.gpus_per_worker=1", "scaling.max_concurrent_trials=2")
    assert (capped.trials_at_once, capped.fit) == (2, 8)
    assert any("max_concurrent_trials 2 limits the sweep to 2 trial(s) at once; the cluster has room for 8" in w
               for w in capped.warnings)  # fmt: skip
    few = _plan("1x16gpu", "scaling.gpus_per_worker=1")
    assert "the sweep has 8 trial(s) for 16 slots: 8 slot(s) stay idle" in few.warnings
    idle = _plan("1x4gpu")
    assert "the cluster's 4 GPU(s) stay idle: scaling.gpus_per_worker is 0" in idle.warnings
    assert not _plan("1x2cpu").warnings  # the quickstart's own shape: two 0.9-CPU trials, nothing idle


def test_quickstart_asha_rungs_and_trial_epochs():
    # 8 trials of 2-3 epochs; ASHA grace 1, max_t 3, reduction factor 2
    plan = preview(load_job(QUICKSTART), [{"CPU": 2.0}], "two cores")
    assert plan.epochs == (2, 3)
    assert [(r.epoch, r.reach, r.keep) for r in plan.rungs] == [(1, 8, 4), (2, 4, 2)]
    epochs = plan.trial_epochs
    # planned = worst case: 8 x 3; expected: 8 x 1 + 4 x 1 + 2 x 1; fewest: 7 stopped at epoch 1 + one 2-epoch trial
    assert (epochs.planned, epochs.expected, epochs.worst_case, epochs.fewest) == (24, 14, 24, 9)
    lines = plan.describe()
    assert lines[:3] == [
        "Plan for job 'quickstart' on two cores: 1 node(s), 2 CPU in all",
        "trials: 8 (search.num_samples, tpe search); each holds 1 worker(s) x (0.9 CPU) in its Tune trial actor",
        "trials at once: 2 (room for 2; max_concurrent_trials auto)",
    ]
    assert "  epoch 2: 4 trial(s) reach it, 2 continue" in lines
    assert lines[-2] == (
        "trial-epochs: planned 24 (every trial to its end), expected 14 with ASHA, "
        "worst case 24 (asynchronous ASHA may stop none), fewest possible 9"
    )
    assert lines[-1].startswith("peak memory per worker (estimate, on CPU): ")


def test_without_asha_nothing_stops_early():
    plan = _plan("1x2cpu", "scheduler.type=none")
    assert plan.rungs == []
    assert (plan.trial_epochs.planned, plan.trial_epochs.expected, plan.trial_epochs.fewest) == (24, 24, 16)


def test_a_grid_counts_its_epochs_exactly():
    grid = [
        "search.algorithm=grid",
        "search.space=null",
        "search.overrides={epochs: {distribution: grid, values: [1, 2, 3]}, "
        "learning_rate: {distribution: choice, values: [0.001, 0.002]}}",
    ]
    plan = _plan("1x8cpu", *grid)
    assert plan.trials == 6 and plan.trials_source.startswith("grid search")
    assert plan.trial_epochs.planned == plan.trial_epochs.worst_case == 2 * (1 + 2 + 3)


@pytest.mark.parametrize(("grace", "max_t", "factor"), [(1, 3, 2.0), (1, 4, 2.0), (1, 8, 2.0), (1, 100, 3.0),
                                                       (2, 9, 1.5), (3, 81, 3.0), (5, 5, 2.0)])  # fmt: skip
def test_milestones_are_rays(grace, max_t, factor):
    from ray.tune.schedulers.async_hyperband import _Bracket

    ray_rungs = sorted(milestone for milestone, _ in _Bracket(grace, max_t, factor, 0)._rungs)
    assert asha_milestones(grace, max_t, factor) == ray_rungs


def test_cli_prints_the_plan_and_json():
    done = _cli(str(QUICKSTART), "--cluster", "3x4gpu", "--json", *[a for o in TWO_GPU_WORKERS for a in ("--set", o)])
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert (plan["trials_at_once"], [n["trials"] for n in plan["per_node"]]) == (6, [2, 2, 2])
    assert plan["trial_epochs"] == {"planned": 24, "expected": 14.0, "worst_case": 24, "fewest": 9}


def test_cli_refuses_a_bad_spec_and_an_unreachable_cluster_in_one_line():
    from finesweep.tuning.execution.ray_runtime import free_local_port

    bad = _cli(str(QUICKSTART), "--cluster", "4x8")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: `--cluster`: cannot read '4x8'")
    address = f"127.0.0.1:{free_local_port()}"
    gone = _cli(str(QUICKSTART), "--cluster", address)
    assert gone.returncode == 2 and gone.stdout == ""
    assert gone.stderr == (
        f"error: `--cluster {address}`: no Ray cluster answers there (Connection refused); start it or check the address\n"
    )


def test_cli_checks_the_job_like_validate(tmp_path):
    job = tmp_path / "broken.yaml"
    job.write_text(QUICKSTART.read_text().replace("algorithm: tpe", "algorithm: tpee").replace(
        "space: ../search_spaces/quickstart.yaml", f"space: {REPO / 'search_spaces' / 'quickstart.yaml'}"))  # fmt: skip
    planned = _cli(str(job), "--cluster", "3x4gpu", "--set", "scaling.cpus_per_worker=-1")
    validated = subprocess.run(
        [sys.executable, "-m", "finesweep", "validate", str(job), "--set", "scaling.cpus_per_worker=-1"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert planned.returncode == validated.returncode == 2
    assert planned.stderr == validated.stderr and planned.stderr.count("\n") == 2
    assert "search.algorithm" in planned.stderr and "scaling.cpus_per_worker" in planned.stderr


def test_a_cluster_spec_is_data():
    spec = ClusterSpec("2x1gpu", "shape", ({"CPU": 8.0, "GPU": 1.0},) * 2)
    assert plan_job(load_job(QUICKSTART, ["scaling.gpus_per_worker=1"]), spec).trials_at_once == 2


# --- peak memory (issue 40: plan warns when the declared resources cannot hold a trial) ---------


def test_the_peak_memory_estimate_reads_the_base_models_shape_and_scales_with_the_step(minilm_dir):
    """The parameter count comes from the safetensors header and matches the loaded model; the
    activations grow with rows and shrink in bf16; full fine-tuning adds gradients and AdamW state
    for every weight."""
    from transformers import AutoModel

    from finesweep.training.peak_memory import read_model_shape

    shape = read_model_shape(minilm_dir)
    assert shape is not None and (shape.hidden, shape.layers, shape.heads) == (384, 6, 12)
    assert shape.parameters == sum(p.numel() for p in AutoModel.from_pretrained(minilm_dir).parameters())
    base = _plan("1x4gpu", "scaling.gpus_per_worker=0.5").memory.estimate
    double = _plan("1x4gpu", "scaling.gpus_per_worker=0.5", "search.space=null", "train.batch_size=64").memory.estimate
    narrow = _plan("1x4gpu", "scaling.gpus_per_worker=0.5", "search.space=null", "train.batch_size=32").memory.estimate
    bf16 = _plan("1x4gpu", "scaling.gpus_per_worker=0.5", "search.space=null", "train.batch_size=32",
                 "train.mixed_precision=bf16").memory.estimate  # fmt: skip
    full = _plan("1x4gpu", "scaling.gpus_per_worker=0.5", "search.space=null", "train.batch_size=32",
                 "train.finetuning=full").memory.estimate  # fmt: skip
    assert base.activations == narrow.activations, "quickstart's space tops out at batch_size 32"
    assert double.activations == pytest.approx(2 * narrow.activations, rel=1e-6)
    assert bf16.activations == pytest.approx(narrow.activations / 2, rel=1e-6)
    assert full.gradients == 4 * shape.parameters and full.optimizer == 8 * shape.parameters
    assert narrow.gradients < shape.parameters / 10, "LoRA trains a small share of the weights"
    assert narrow.weights == 4 * shape.parameters and narrow.runtime > 0


def test_plan_warns_when_a_gpu_share_cannot_hold_the_estimated_peak():
    small = _plan("1x8gpu", "scaling.gpus_per_worker=0.125", "search.space=null", "train.batch_size=64",
                  "train.max_length=128")  # fmt: skip
    assert "peak memory per worker (estimate, on GPU): " in "\n".join(small.describe())
    spec = parse_cluster_spec("1x8gpu")
    loaded = load_job(QUICKSTART, ["scaling.gpus_per_worker=0.125", "search.space=null", "train.batch_size=64",
                                   "train.max_length=128"])  # fmt: skip
    tight = plan_job(loaded, spec, gpu_memory_gib=16)
    [warning] = [w for w in tight.warnings if "estimated peak" in w]
    assert "exceeds its share of a GPU (0.125 x 16 GiB = 2 GiB)" in warning and "train.batch_size" in warning
    assert tight.memory.estimate.total > 2 * 2**30
    roomy = plan_job(loaded, spec, gpu_memory_gib=80)
    assert not [w for w in roomy.warnings if "estimated peak" in w], "10 GiB of an 80 GiB GPU holds it"
    assert small.warnings == [w for w in small.warnings if "estimated peak" not in w], "no GPU memory known: no warning"


def test_plan_warns_when_the_local_machines_memory_cannot_hold_its_cpu_trials():
    import psutil

    fits = _plan("local")
    assert not [w for w in fits.warnings if "at their peak" in w], fits.warnings
    huge = _plan("local", "search.space=null", "train.batch_size=65536", "train.max_length=512")
    [warning] = [w for w in huge.warnings if "at their peak" in w]
    ram = psutil.virtual_memory().total / 2**30
    assert f"but it has {ram:.3g} GiB" in warning and "scaling.max_concurrent_trials" in warning


def test_cli_plan_prints_the_estimate_and_takes_the_gpu_memory():
    done = _cli(str(QUICKSTART), "--cluster", "1x8gpu", "--gpu-memory", "1", "--set", "scaling.gpus_per_worker=0.125")
    assert done.returncode == 0, done.stderr
    assert "peak memory per worker (estimate, on GPU): " in done.stdout
    assert "warning: a trial worker's estimated peak" in done.stdout and "0.125 x 1 GiB" in done.stdout
    plan = json.loads(_cli(str(QUICKSTART), "--json").stdout)
    assert plan["memory"]["estimate"]["weights"] > 0 and plan["memory"]["device"] == "cpu"
