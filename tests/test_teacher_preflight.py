"""A sparse encoder's teacher (``train.teacher``) is checked as the base model is (issue 44, defect 6).

A local folder with corrupt weights, a ``config.json`` that is no model config, or tokenizer files
that cannot load is refused by ``validate`` (and by ``sweep``, before any data is read) in one
problem line naming the key: ``model.base`` or ``train.teacher``, through the same check. What that
check cannot see is refused when the teacher loads, as model.base's is, instead of an internal error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from finesweep.config import load_job
from finesweep.errors import ConfigError
from damaged_models import config_not_json as _config_not_json, garbage_header as _garbage_header, truncate as _truncate  # noqa: E402,F401


def _config_no_model(model: Path) -> None:
    (model / "config.json").write_text('{"hello": 1}', encoding="utf-8")


def _tokenizer_not_json(model: Path) -> None:
    (model / "tokenizer.json").write_text("{garbage", encoding="utf-8")


def _tokenizer_config_not_json(model: Path) -> None:
    (model / "tokenizer_config.json").write_text("[1, 2", encoding="utf-8")


DAMAGES = [
    pytest.param(_truncate, "model.safetensors is truncated: its header describes", id="truncated-safetensors"),
    pytest.param(_garbage_header, "model.safetensors is not a valid safetensors file (header of", id="garbage-safetensors-header"),
    pytest.param(_config_not_json, "config.json is not readable JSON", id="config-json-not-json"),
    pytest.param(_config_no_model, "config.json is not a model config (it names no model_type)", id="config-json-no-model-config"),
    pytest.param(_tokenizer_not_json, "tokenizer.json is not a JSON object; the tokenizer cannot load", id="tokenizer-json-not-json"),
    pytest.param(_tokenizer_config_not_json, "tokenizer_config.json is not a JSON object; the tokenizer cannot load",
                 id="tokenizer-config-not-json"),
]  # fmt: skip


def _damaged(tiny_bert: Path, tmp: Path, damage: Callable[[Path], None]) -> Path:
    model = tmp / "damaged-model"
    shutil.copytree(tiny_bert, model)
    damage(model)
    return model


def _sparse_job(tmp: Path, base: Path, teacher: Path | None) -> Path:
    job: dict[str, Any] = {
        "name": "teacher-check",
        "task": "sparse_encoder",
        "dataset": {"name": "korquad_v1", "max_train_samples": 48, "max_eval_samples": 24},
        "model": {"base": str(base)},
        "train": {"epochs": 1, "batch_size": 8, "max_length": 64, "max_query_length": 32,
                  **({"teacher": str(teacher)} if teacher else {})},
        "search": {"metric": "val_mrr_at_10", "mode": "max", "algorithm": "random", "num_samples": 1},
        "scheduler": {"type": "none"},
        "tracking": {"uri": f"sqlite:///{tmp / 'mlflow.db'}"},
        "storage_path": str(tmp / "results"),
    }  # fmt: skip
    path = tmp / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


@pytest.mark.parametrize("key", ["model.base", "train.teacher"])
@pytest.mark.parametrize("damage, fragment", DAMAGES)
def test_a_bad_model_folder_is_one_problem_naming_its_key(tiny_bert, tmp_path, damage, fragment, key):
    damaged = _damaged(tiny_bert, tmp_path, damage)
    job = _sparse_job(tmp_path, damaged, None) if key == "model.base" else _sparse_job(tmp_path, tiny_bert, damaged)
    with pytest.raises(ConfigError) as info:
        load_job(job)
    [line] = info.value.problems
    assert line.startswith(f"{job}: {key}: {damaged}"), line
    assert fragment in line and "\n" not in line, line


def test_a_sound_teacher_folder_passes(tiny_bert, tmp_path):
    assert load_job(_sparse_job(tmp_path, tiny_bert, tiny_bert)).params.teacher == str(tiny_bert)


def _cli(*args: str, cwd: Path, data_dir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env.update(HF_HUB_OFFLINE="1", FINESWEEP_DATA_DIR=str(data_dir))
    return subprocess.run([sys.executable, "-m", "finesweep", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=180)  # fmt: skip


def test_validate_and_sweep_refuse_a_corrupt_teacher_before_reading_data(tiny_bert, tmp_path):
    """Exit 2, one ``error:`` line naming train.teacher; the sweep is refused with no data directory
    to read from (an empty one) and nothing created."""
    job = _sparse_job(tmp_path, tiny_bert, _damaged(tiny_bert, tmp_path, _truncate))
    empty = tmp_path / "no-data"
    empty.mkdir()
    for command in ("validate", "sweep"):
        done = _cli(command, str(job), cwd=tmp_path, data_dir=empty)
        output = done.stdout + done.stderr
        assert done.returncode == 2 and "Traceback" not in output, output
        [error] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert "train.teacher:" in error and "model.safetensors is truncated" in error, error
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "results").exists()


def test_a_teacher_that_passes_the_check_but_cannot_load_is_a_model_error(tiny_bert, tmp_path):
    """A model type transformers does not know: refused when the teacher loads, naming the key."""
    from finesweep.errors import ModelError
    from finesweep.tasks._distillation import encode_texts

    teacher = _damaged(tiny_bert, tmp_path, lambda m: (m / "config.json").write_text('{"model_type": "no-such-model"}'))
    with pytest.raises(ModelError, match=r"^train\.teacher: cannot load .*damaged-model"):
        encode_texts(str(teacher), ["a text"], "")
