"""Issue 41 item 1: ``train.mixed_precision: auto`` resolves per device; every trial run records
the precision it trained in."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from finesweep.training.precision import choose_precision, cpu_flags, describe_choice

AVX512_BF16 = frozenset({"fpu", "avx512f", "avx512_bf16", "avx512_vnni"})
AMX = frozenset({"fpu", "avx512f", "amx_tile", "amx_bf16"})
PLAIN_AVX2 = frozenset({"fpu", "avx", "avx2", "fma"})


@pytest.mark.parametrize(("requested", "device", "cuda_bf16", "flags", "expected"), [
    ("auto", "cuda", True, frozenset(), "bf16"),     # Ampere and newer
    ("auto", "cuda", False, frozenset(), "no"),      # a V100 or T4: no native bf16
    ("auto", "cpu", False, AVX512_BF16, "bf16"),
    ("auto", "cpu", False, AMX, "bf16"),
    ("auto", "cpu", False, PLAIN_AVX2, "no"),        # bf16 emulated: slower than float32
    ("auto", "cpu", False, frozenset(), "no"),       # flags unreadable
    ("auto", "mps", False, frozenset(), "no"),
    ("fp16", "cuda", False, frozenset(), "fp16"),
    ("fp16", "cpu", False, AVX512_BF16, "no"),      # fp16 needs CUDA's loss scaling
    ("bf16", "cpu", False, PLAIN_AVX2, "bf16"),     # asked for: kept, even emulated
    ("no", "cuda", True, frozenset(), "no"),
])  # fmt: skip
def test_the_precision_follows_what_was_asked_and_what_the_device_reports(requested, device, cuda_bf16, flags,
                                                                           expected):  # fmt: skip
    assert choose_precision(requested, device, cuda_bf16, flags) == expected


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2 avx512_bf16 avx512_vnni\n\n"
                    "processor\t: 1\nflags\t\t: fpu avx2 avx512_bf16 avx512_vnni\n")  # fmt: skip
    assert cpu_flags(info) == frozenset({"fpu", "avx2", "avx512_bf16", "avx512_vnni"})
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_the_sweeps_line_says_what_auto_gives_on_this_machine():
    local = "bf16" if choose_precision("auto", "cpu", False, cpu_flags()) == "bf16" else "float32"
    assert describe_choice("auto", on_gpus=False, searched=False).startswith(f"precision auto: {local} on this machine's CPU")
    assert describe_choice("auto", on_gpus=True, searched=False).startswith("precision auto: bf16 on GPUs that support it")
    assert describe_choice("fp16", on_gpus=False, searched=False) == "precision fp16 (float32 on CPUs)"
    assert describe_choice("no", on_gpus=False, searched=True).startswith("precision searched")


def test_auto_is_the_default_and_validates():
    from finesweep.tasks.base import TrainParams

    assert TrainParams().mixed_precision == "auto"
    assert TrainParams(mixed_precision="bf16").mixed_precision == "bf16"


@pytest.mark.slow
def test_a_tiny_sweep_trains_in_float32_bf16_and_auto_and_records_each(tmp_path, mlflow_store, tiny_bert, ray_clean):
    """Three trials of the tiny BERT, one per precision: each trains (its loss falls), and its run's
    tag finesweep.precision says what it ran in (auto: what this CPU supports)."""
    from mlflow.tracking import MlflowClient

    from finesweep.config import load_job
    from finesweep.tuning.sweep import run_sweep
    from job_parts import WITHOUT_BASELINES

    job = {
        "name": "precision",
        "dataset": {"name": "emotion_carer", "max_train_samples": 160, "max_eval_samples": 40},
        "model": {"base": str(tiny_bert)},
        "train": {"max_length": 32, "batch_size": 16, "epochs": 2, "learning_rate": 3e-3, "lora_dropout": 0.0},
        "search": {"algorithm": "grid", "metric": "val_loss", "mode": "min",
                   "overrides": {"mixed_precision": {"distribution": "grid", "values": ["no", "bf16", "auto"]}}},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9},
        "tracking": {"uri": mlflow_store, "experiment": "precision"},
        "storage_path": str(tmp_path / "results"),
        "baselines": dict(WITHOUT_BASELINES),
        "verbose": 0,
    }  # fmt: skip
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    summary = run_sweep(load_job(path), name="precision")
    assert sorted(summary.statuses.values()) == ["completed"] * 3
    client = MlflowClient(mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name("precision").experiment_id],
                              filter_string="tags.`finesweep.role` = 'trial'")  # fmt: skip
    recorded = {run.data.params["mixed_precision"]: run for run in runs}
    auto = choose_precision("auto", "cpu", False, cpu_flags())
    assert {asked: run.data.tags["finesweep.precision"] for asked, run in recorded.items()} == {
        "no": "no", "bf16": "bf16", "auto": auto}
    for run in recorded.values():
        losses = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "train_loss"), key=lambda m: m.step)]
        assert len(losses) == 2 and losses[1] < losses[0], (run.data.params["mixed_precision"], losses)
    fp32, bf16 = recorded["no"].data.metrics["val_loss"], recorded["bf16"].data.metrics["val_loss"]
    assert fp32 != bf16, "bf16 autocast changes the arithmetic"
    assert bf16 == pytest.approx(fp32, abs=0.05), "and not what the tiny model learns"
