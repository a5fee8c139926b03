"""Multi-label text classification: label lists from GoEmotions-Korean's 28 labels and from a user
file, errors for unknown labels and for oversampling, and a real sweep reporting micro/macro F1."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from finesweep.config import load_job
from finesweep.config.schema import DatasetConfig
from finesweep.data.prepare import prepare_dataset
from finesweep.errors import DataError, FinesweepError
from job_parts import WITHOUT_BASELINES

REPO = Path(__file__).resolve().parents[1]


def test_goemotions_multilabel_keeps_every_label_of_a_text(data_dir):
    data = prepare_dataset(DatasetConfig(name="goemotions_ko_multilabel", max_train_samples=800, max_eval_samples=200), str)
    assert data.multi_label and len(data.label_names) == 28 and data.label_names[-1] == "neutral"
    labels = data.splits["train"]["label"]
    assert all(isinstance(row, list) and row for row in labels)
    assert sum(len(row) > 1 for row in labels) > 50, "about 16% of GoEmotions texts carry several labels"
    counts = data.class_counts("train")
    assert sum(counts.values()) == sum(len(row) for row in labels)


def test_user_multilabel_file_and_its_errors(tmp_path):
    rows = ["text,tags"] + [f"text {i},{'a|b' if i % 3 == 0 else 'a' if i % 3 == 1 else 'c'}" for i in range(60)]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    config = DatasetConfig(path="data.csv", label_column="tags", multi_label=True, label_separator="|")
    data = prepare_dataset(config, lambda p: tmp_path / p)
    assert data.label_names == ["a", "b", "c"]
    assert sorted(map(tuple, data.splits["train"]["label"] + data.splits["validation"]["label"] + data.splits["test"]["label"])) \
        == sorted([(0, 1)] * 20 + [(0,)] * 20 + [(2,)] * 20)  # fmt: skip
    strict = DatasetConfig(path="data.csv", label_column="tags", multi_label=True, label_separator="|", label_names=["a", "b"])
    with pytest.raises(DataError, match=r"data.csv: row 4: label 'c' is not one of dataset.label_names: 'a', 'b'"):
        prepare_dataset(strict, lambda p: tmp_path / p)


def _job(tmp_path: Path, **train) -> Path:
    job = {
        "name": "multilabel",
        "task": "text_classification",
        "dataset": {"name": "goemotions_ko_multilabel", "max_train_samples": 600, "max_eval_samples": 150},
        # the Korean-capable offline e5 copy (MiniLM splits Hangul into jamo and stays near chance)
        "model": {"base": "multilingual-e5-small-q4"},
        "train": {"epochs": 2, "batch_size": 16, "max_length": 48, "learning_rate": 3e-3, "lora_r": 16, "seed": 42, **train},
        "search": {"metric": "val_micro_f1", "mode": "max", "algorithm": "random", "num_samples": 1, "space": None},
        "scheduler": {"type": "none"},
        "scaling": {"workers_per_trial": 1, "cpus_per_worker": 1.9, "trial_driver_cpus": 0.1},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "multilabel"},
        "storage_path": str(tmp_path / "results"),
        "baselines": dict(WITHOUT_BASELINES),
        "verbose": 0,
    }  # fmt: skip
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def _preset_recipe(tmp_path: Path) -> Path:
    """A one-trial job with jobs/goemotions_ko_multilabel.yaml's budget, adapter targets and train
    settings (constant rate, no warmup, no clipping: docs/tasks.md says why), at one point of its
    search space: the adapters at 1e-4, the fresh head at 1e-2."""
    preset = yaml.safe_load((REPO / "jobs" / "goemotions_ko_multilabel.yaml").read_text())
    job = yaml.safe_load(_job(tmp_path, **preset["train"], learning_rate=1e-4, head_learning_rate=1e-2).read_text())
    job["dataset"].update({key: preset["dataset"][key] for key in ("max_train_samples", "max_eval_samples")})
    job["model"]["lora_target_modules"] = preset["model"]["lora_target_modules"]
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def test_oversampling_a_multilabel_dataset_is_refused_before_any_run(tmp_path, data_dir):
    from finesweep.tuning.sweep import run_sweep

    with pytest.raises(FinesweepError, match="balancing: 'oversample' needs one label per text"):
        run_sweep(load_job(_job(tmp_path, balancing="oversample")), name="bad")
    if (tmp_path / "mlflow.db").exists():
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
        assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == [], "no run left behind"


@pytest.mark.slow
@pytest.mark.quality
def test_the_multilabel_recipe_learns_reports_micro_and_macro_f1_and_promotes(tmp_path, mlflow_store, data_dir, tiny_bert, ray_clean):
    from mlflow.tracking import MlflowClient

    import finesweep
    from finesweep.tracking.baselines import recorded_figures
    from finesweep.tuning.sweep import run_sweep

    recipe = load_job(_preset_recipe(tmp_path))
    summary = run_sweep(recipe, name="multilabel")
    assert summary.count("completed") == 1, summary.statuses
    client = MlflowClient(summary.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("multilabel").experiment_id])
    run = next(r for r in runs if r.data.tags["finesweep.role"] == "trial")
    parent = next(r for r in runs if r.data.tags["finesweep.role"] == "sweep")
    metrics = run.data.metrics
    for key in ("val_micro_f1", "val_macro_f1", "test_micro_f1", "test_macro_f1", "val_f1_neutral", "test_f1_joy"):
        assert 0 <= metrics[key] <= 1, key
    # the preset's recipe learns: clearly above always answering the most frequent labels (0.340
    # test micro-F1 on this split; one such trial measured 0.430 on 2026-12-04)
    trivial = recorded_figures(parent)["baseline_trivial_test_micro_f1"]
    assert metrics["test_micro_f1"] > trivial + 0.03, (metrics["test_micro_f1"], trivial)
    assert 0 < metrics["val_threshold"] < 1 and metrics["test_threshold"] == metrics["val_threshold"]
    history = client.get_metric_history(run.info.run_id, "val_micro_f1")
    assert [m.step for m in history] == [1, 2, 3]
    assert "classification_report.txt" in {a.path for a in client.list_artifacts(run.info.run_id)}
    model = finesweep.load_model(run.data.tags["finesweep.model_uri"], tracking_uri=summary.tracking_uri)
    predictions = model.predict(["정말 고마워요, 너무 기뻐요!", "왜 이런 일이 일어났는지 모르겠다"])
    assert all(set(p["labels"]) <= set(p["scores"]) and len(p["scores"]) == 28 for p in predictions)

    # promotion: micro-F1 at the tuned threshold decides; a barely trained tiny BERT is the weaker challenger
    weak = yaml.safe_load(recipe.path.read_text())
    weak["model"]["base"] = str(tiny_bert)
    weak["train"].update(epochs=1, learning_rate=1e-6, head_learning_rate=1e-6)
    weak_path = tmp_path / "weak.yaml"
    weak_path.write_text(yaml.safe_dump(weak))
    run_sweep(load_job(weak_path), name="multilabel-weak")
    from promotion_cycle import promotion_cycle

    tags = promotion_cycle(summary.tracking_uri, "multilabel", "multilabel-weak", "emotions-ml", "test_micro_f1",
                           "latency_ms_per_text")  # fmt: skip
    assert {"test_micro_f1", "test_macro_f1", "test_accuracy"} <= set(tags)

    # serving the champion gives the micro-F1 promotion recorded for it (same texts, same threshold)
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import MultiLabelBinarizer

    data = prepare_dataset(recipe.job.dataset, str)  # the splits the sweep and promotion used
    test, names = data.splits["test"], data.label_names
    champion = finesweep.load_model("models:/emotions-ml@champion", tracking_uri=summary.tracking_uri)
    predicted = [[names.index(label) for label in p["labels"]] for p in champion.predict(list(test["text"]))]
    binarize = MultiLabelBinarizer(classes=list(range(len(names))))
    micro = f1_score(binarize.fit_transform(test["label"]), binarize.transform(predicted), average="micro", zero_division=0)
    assert micro == pytest.approx(float(tags["test_micro_f1"]), abs=1e-3)


def test_head_learning_rate_moves_only_the_fully_trained_modules(tiny_bert):
    """head_learning_rate gives PEFT's fully trained copies (classifier, pooler) their own rate; the
    adapters keep learning_rate, and the scheduler's warmup scales both."""
    from transformers import AutoModelForSequenceClassification

    from finesweep.models.lora import apply_lora
    from finesweep.tasks.text_classification import TextClassificationParams
    from finesweep.training.optim import build_optimizer, build_scheduler

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=3)
    model = apply_lora(model, "SEQ_CLS", 4, 8.0, 0.0, ["query", "value"])
    params = TextClassificationParams(learning_rate=1e-4, head_learning_rate=1e-2, warmup_ratio=0.5)
    optimizer = build_optimizer(params, model)
    names = {id(t): n for n, t in model.named_parameters()}
    rates = {names[id(t)]: group["lr"] for group in optimizer.param_groups for t in group["params"]}
    heads = {n for n in rates if ".modules_to_save." in n}
    assert heads and any("classifier" in n for n in heads) and any("pooler" in n for n in heads)
    assert {rates[n] for n in heads} == {1e-2} and {r for n, r in rates.items() if n not in heads} == {1e-4}
    assert any("lora_" in n for n in rates) and len(rates) == sum(t.requires_grad for t in model.parameters())
    scheduler = build_scheduler(params, optimizer, total_steps=4)  # 2 warmup steps: rates at half after one
    optimizer.step(), scheduler.step()
    assert sorted({round(g["lr"], 9) for g in optimizer.param_groups}) == [5e-5, 5e-3]
    same = build_optimizer(TextClassificationParams(learning_rate=1e-4), model)
    assert {g["lr"] for g in same.param_groups} == {1e-4}, "unset: every parameter at learning_rate"


@pytest.mark.parametrize("max_grad_norm, expected_norm", [(0.5, 0.5), (None, 40.0)])
def test_max_grad_norm_clips_the_step_and_null_leaves_the_gradients_whole(max_grad_norm, expected_norm):
    """The multi-label preset turns clipping off (null): the head's large gradients would otherwise
    shrink the adapters' steps. With SGD at rate 1 the step equals the gradient, so its norm shows
    the clipping."""
    from types import SimpleNamespace

    import torch

    from finesweep.tasks.text_classification import TextClassificationParams
    from finesweep.training.loop import _optimizer_step

    layer = torch.nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        layer.weight.zero_()
    layer.weight.grad = torch.full_like(layer.weight, 20.0)  # L2 norm sqrt(4 x 20^2) = 40
    params = TextClassificationParams(max_grad_norm=max_grad_norm)
    optimizer = torch.optim.SGD(layer.parameters(), lr=1.0)
    trial = SimpleNamespace(model=layer, params=params, optimizer=optimizer, scaler=None,
                            scheduler=torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0))  # fmt: skip
    _optimizer_step(trial)
    assert layer.weight.norm().item() == pytest.approx(expected_norm, rel=1e-5)
    assert layer.weight.grad is None, "the step clears the gradients"
