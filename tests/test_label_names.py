"""Per-label metric names: every label of any script keeps a distinct, readable MLflow key, so that
KOTE's 44 Korean labels give 44 ``val_f1_*`` keys, not 8 that overwrite each other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from finesweep.tasks._label_keys import label_keys
from job_parts import WITHOUT_BASELINES

# KOTE's 44 labels (Korean online comments, 43 emotions and "none")
KOTE = ("불평/불만 환영/호의 감동/감탄 지긋지긋 고마움 슬픔 화남/분노 존경 기대감 우쭐댐/무시함 안타까움/실망 비장함 "
        "의심/불신 뿌듯함 편안/쾌적 신기함/관심 아껴주는 부끄러움 공포/무서움 절망 한심함 역겨움/징그러움 짜증 어이없음 "
        "없음 패배/자기혐오 귀찮음 힘듦/지침 즐거움/신남 깨달음 죄책감 증오/혐오 흐뭇함(귀여움/예쁨) 당황/난처 경악 "
        "부담/안_내킴 서러움 재미없음 불쌍함/연민 놀람 행복 불안/걱정 기쁨 안심/신뢰").split()


def test_korean_labels_keep_their_letters_and_every_key_is_distinct():
    keys = label_keys(list(KOTE))
    assert len(KOTE) == 44 and len(set(keys)) == 44
    assert keys[0] == "불평_불만" and keys[KOTE.index("흐뭇함(귀여움/예쁨)")] == "흐뭇함_귀여움_예쁨_"
    assert label_keys(["joy", "love", "anger-2", "v1.0"]) == ["joy", "love", "anger-2", "v1.0"], "ASCII keys are unchanged"


def test_labels_whose_keys_collide_or_hold_no_letter_get_their_id_first():
    assert label_keys(["a b", "a_b", "c", "???", "!!"]) == ["0_a_b", "1_a_b", "c", "3____", "4___"]


def test_mlflow_takes_every_korean_key(tmp_path):
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.create_run(client.create_experiment("labels"))
    names = [f"val_f1_{key}" for key in label_keys(list(KOTE))]
    client.log_batch(run.info.run_id, metrics=[Metric(name, 0.5, 0, 1) for name in names])
    assert sorted(client.get_run(run.info.run_id).data.metrics) == sorted(names)


@pytest.mark.slow
def test_a_sweep_on_44_korean_labels_records_44_keys_per_split(tmp_path, mlflow_store, tiny_bert, ray_clean):
    from finesweep.config import load_job
    from finesweep.tracking.snapshot import read_sweep
    from finesweep.tracking.store import client
    from finesweep.tuning.sweep import run_sweep

    rows = ["text,label"] + [f"댓글 {i} 번째 문장,{KOTE[i % 44]}" for i in range(44 * 12)]
    (tmp_path / "kote.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    job = {
        "name": "kote-like", "dataset": {"path": "kote.csv", "label_column": "label"},
        "model": {"base": str(tiny_bert)}, "train": {"epochs": 1, "max_length": 16, "batch_size": 32},
        "search": {"algorithm": "random", "num_samples": 1, "space": None}, "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 1.0}, "baselines": dict(WITHOUT_BASELINES),
        "tracking": {"uri": mlflow_store, "experiment": "kote"}, "storage_path": str(tmp_path / "results"), "verbose": 0,
    }  # fmt: skip
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job, allow_unicode=True), encoding="utf-8")
    run_sweep(load_job(tmp_path / "job.yaml"), name="kote-like")
    store = client(mlflow_store)
    snapshot = read_sweep(store, "kote-like")
    [trial] = snapshot.trials
    table = _artifact_json(store, trial.info.run_id, "per_label_f1.json", tmp_path / "trial")
    names = [label["name"] for label in table["labels"]]
    assert sorted(names) == sorted(KOTE), "the label table: id -> name -> key"
    assert [label["key"] for label in table["labels"]] == label_keys(names)
    assert [label["id"] for label in table["labels"]] == list(range(44))
    last = table["epochs"]["1"]
    for split in ("val", "test"):
        keys = [key for key in last if key.startswith(f"{split}_f1_")]
        assert len(keys) == 44 and len(set(keys)) == 44, (split, sorted(keys))
        charted = [key for key in trial.data.metrics if key.startswith(f"{split}_f1_")]
        assert len(charted) == 3, "the three most frequent labels' F1 are metrics too; the rest are in the table"
        assert all(trial.data.metrics[key] == pytest.approx(last[key]) for key in charted)
    parent_labels = _artifact_json(store, snapshot.parent.info.run_id, "labels.json", tmp_path / "parent")
    assert parent_labels == table["labels"]


def _artifact_json(store, run_id: str, name: str, folder: Path):
    folder.mkdir()
    return json.loads(Path(store.download_artifacts(run_id, name, str(folder))).read_text(encoding="utf-8"))
