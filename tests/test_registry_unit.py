"""Promotion decisions and the paired bootstrap, on synthetic held-out results (classifier-shaped
and retrieval-shaped: the bootstrap is the same for every task)."""

from __future__ import annotations

import numpy as np
import pytest

from finesweep.promotion.bootstrap import paired_bootstrap
from finesweep.objective import MetricGoal
from finesweep.promotion.registry import _decide, _verdict
from finesweep.tasks._classification_held_out import LabelledSplit, _multi_label, _single_label
from finesweep.tasks._retrieval_held_out import gold_ranks, per_query_figures
from finesweep.tasks.base import HeldOut


def test_validation_metrics_map_to_their_test_counterparts_with_the_tasks_directions():
    from finesweep.tasks import get_task

    classifier, retrieval = get_task("text_classification").metrics, get_task("sparse_encoder").metrics
    for catalog, metric, held, mode in [(classifier, "val_macro_f1", "test_macro_f1", "max"),
                                        (classifier, "val_loss", "test_loss", "min"),
                                        (classifier, "train_loss", "test_loss", "min"),
                                        (classifier, "val_f1_joy", "test_f1_joy", "max"),
                                        (retrieval, "val_recall_at_10", "test_recall_at_10", "max"),
                                        (retrieval, "val_doc_terms", "test_doc_terms", "min"),
                                        (classifier, "latency_ms_per_text", "latency_ms_per_text", "min")]:  # fmt: skip
        assert catalog.held_out(metric) == held, metric
        assert catalog.goal(held).mode == mode, held
    assert classifier.mode("val_recall_at_10") is None and retrieval.mode("val_macro_f1") is None


def _classifier(labels: list[int], predicted: list[int]) -> HeldOut:
    split = LabelledSplit([""] * len(labels), labels, ["a", "b", "c"], False, "fp")
    probabilities = np.eye(3)[predicted]
    score, names = _single_label(split, probabilities)
    return HeldOut({}, len(labels), "text", 1.0, {}, score, tuple(names))


def test_bootstrap_separates_a_clearly_better_classifier():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 400).tolist()
    good = [y if rng.random() < 0.9 else (y + 1) % 3 for y in labels]
    bad = [y if rng.random() < 0.5 else (y + 1) % 3 for y in labels]
    better = paired_bootstrap(_classifier(labels, good), _classifier(labels, bad), "test_accuracy")
    assert better["difference"] > 0.3 and better["p_value"] < 0.01 and better["ci_low"] > 0
    same = paired_bootstrap(_classifier(labels, good), _classifier(labels, good), "test_macro_f1")
    assert same["difference"] == 0 and same["p_value"] == 1.0


def test_bootstrap_over_queries_of_two_rankers():
    """Recall@10 per query from the gold passage's rank; resampling queries separates the rankers."""
    rng = np.random.default_rng(1)
    corpus = rng.normal(size=(300, 16))
    positive = rng.integers(0, 300, 200)
    close = corpus[positive] + rng.normal(scale=0.3, size=(200, 16))  # queries near their passage
    far = corpus[positive] + rng.normal(scale=3.0, size=(200, 16))

    def ranker(queries: np.ndarray) -> HeldOut:
        figures = per_query_figures(gold_ranks(queries, corpus, positive.tolist()))
        return HeldOut({k: float(v.mean()) for k, v in figures.items()}, 200, "query", 1.0, {},
                       lambda metric, rows: float(figures[metric][rows].mean()), tuple(figures))  # fmt: skip

    good, bad = ranker(close), ranker(far)
    assert good.metrics["test_recall_at_10"] > bad.metrics["test_recall_at_10"] + 0.3, (good.metrics, bad.metrics)
    assert 0 < good.metrics["test_ndcg_at_10"] <= 1 and good.metrics["test_mrr_at_10"] >= good.metrics["test_recall_at_1"]
    result = paired_bootstrap(good, bad, "test_recall_at_10")
    assert result["p_value"] < 0.01 and result["ci_low"] > 0 and result["resampled"] == 200


def test_gold_rank_counts_better_and_tied_passages_against_the_gold_one():
    queries = np.array([[1.0, 0.0], [0.0, 1.0]])
    corpus = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.5]])
    assert gold_ranks(queries, corpus, [1, 2]).tolist() == [2, 1], "a tie is ranked against the gold passage"
    assert gold_ranks(queries, corpus, [2, 0]).tolist() == [3, 3]


def test_multi_label_scores_at_the_model_threshold():
    split = LabelledSplit(["", "", ""], [[0], [1, 2], []], ["x", "y", "z"], True, "fp")
    probabilities = np.array([[0.9, 0.1, 0.1], [0.2, 0.7, 0.4], [0.1, 0.1, 0.1]])
    score, names = _multi_label(split, probabilities, threshold=0.5)
    rows = np.arange(3)
    assert score("test_micro_f1", rows) == pytest.approx(2 * 2 / (2 * 2 + 0 + 1))  # tp 2, fp 0, fn 1
    assert score("test_accuracy", rows) == pytest.approx(2 / 3), "text 2 misses z"
    lower, _ = _multi_label(split, probabilities, threshold=0.3)
    assert lower("test_micro_f1", rows) == 1.0 and "test_f1_z" in names


def test_decisions_respect_min_delta_direction_and_significance():
    f1, loss = MetricGoal("test_macro_f1", "max"), MetricGoal("test_loss", "min")
    assert _decide(0.02, f1, 0.01, None, False, 0.05)[0]
    assert not _decide(0.005, f1, 0.01, None, False, 0.05)[0]
    assert _decide(-0.02, loss, 0.01, None, False, 0.05)[0], "a lower loss is a gain"
    assert not _decide(0.02, loss, 0.0, None, False, 0.05)[0], "a higher loss is a loss"
    promoted, reason = _decide(0.02, f1, 0.0, {"p_value": 0.2}, True, 0.05)
    assert not promoted and "not significant" in reason
    assert _decide(0.02, f1, 0.0, {"p_value": 0.01}, True, 0.05)[0]


def test_unknown_bootstrap_metric_is_refused():
    from finesweep.errors import TrackingError

    held = _classifier([0, 1], [0, 1])
    with pytest.raises(TrackingError, match="no bootstrap for test_loss"):
        paired_bootstrap(held, held, "test_loss")


@pytest.mark.parametrize(
    ("promoted", "trivial", "force", "expect"),
    [
        (True, None, False, (True, "wins")),
        (False, None, False, (False, "loses")),
        (True, "below trivial", False, (False, "below trivial")),
        (False, "below trivial", False, (False, "below trivial; and loses")),
        (False, None, True, (True, "forced: loses")),
        (True, "below trivial", True, (True, "forced: below trivial; wins")),
        (False, "below trivial", True, (True, "forced: below trivial; loses")),
    ],
)
def test_the_trivial_floor_refuses_under_any_comparison_and_force_overrides_both(promoted, trivial, force, expect):
    reason = "wins" if promoted else "loses"
    assert _verdict(promoted, reason, trivial, force) == expect
