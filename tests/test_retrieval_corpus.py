"""Retrieval evaluation ranks the whole corpus of the dataset: every validation and test query
against every passage of every split (KorQuAD 1.0's 960 distinct paragraphs, all 5,183 of BEIR's
SciFact abstracts), not only its own split's 60-120; its own positives are still never trained on.

Checked on the real data, the tiny BERT (untuned, as the sweep's base-model baseline) and BM25:
the number of candidates, training passages among the distractors, and figures no better than
against the split's own passages (lower, on this data)."""

from __future__ import annotations

from pathlib import Path

import yaml

from finesweep.config import load_job
from finesweep.config.schema import DatasetConfig
from finesweep.data.catalog import CATALOG, locate_file
from finesweep.data.pairs import PairData, prepare_pairs

KORQUAD = DatasetConfig(name="korquad_v1", max_train_samples=200, max_eval_samples=None)


def _catalog_frames(name: str) -> dict:
    entry = CATALOG[name]
    return entry.load({remote.name: locate_file(entry, remote) for remote in entry.files})


def _per_split(data: PairData) -> PairData:
    """The same queries, each evaluation split ranking only its own queries' passages (all of the
    split's passages, when ``max_eval_samples`` keeps every query): the evaluation before."""
    splits = {"train": data.splits["train"]}
    for name in ("validation", "test"):
        split = data.splits[name]
        texts = [split["corpus"][i] for i in split["positive"]]
        corpus = list(dict.fromkeys(texts))
        index = {text: i for i, text in enumerate(corpus)}
        splits[name] = {"query": split["query"], "corpus": corpus, "positive": [index[t] for t in texts]}
    return PairData(splits=splits, fingerprint=data.fingerprint, source=data.source)


def test_evaluation_splits_rank_every_passage_of_every_split(data_dir):
    data = prepare_pairs(KORQUAD, str)
    passages = set(_catalog_frames("korquad_v1")["all"]["passage"])
    assert data.eval_corpus_size() == len(passages) == 960, "every distinct paragraph of KorQuAD's 964"
    assert data.splits["validation"]["corpus"] is data.splits["test"]["corpus"], "one corpus, shared"
    assert set(data.splits["validation"]["corpus"]) == passages
    assert data.summary()["eval_corpus"] == 960 and "ranks all 960 passages" in data.describe()

    train = set(data.splits["train"]["corpus"])
    for name in ("validation", "test"):
        split = data.splits[name]
        positives = {split["corpus"][i] for i in split["positive"]}
        assert not positives & train, f"{name} positives are never trained on"
        assert train <= set(split["corpus"]), f"training passages are distractors for {name} queries"
    # max_train_samples and max_eval_samples sample queries; the corpus stays the dataset's
    small = prepare_pairs(DatasetConfig(name="korquad_v1", max_train_samples=40, max_eval_samples=10), str)
    assert small.eval_corpus_size() == 960 and small.counts() == {"train": 40, "validation": 10, "test": 10}


def test_scifact_ranks_the_whole_beir_corpus(data_dir):
    data = prepare_pairs(DatasetConfig(name="scifact", max_eval_samples=50), str)
    assert data.eval_corpus_size() == len(_catalog_frames("scifact")["corpus"]) == 5183
    train = set(data.splits["train"]["corpus"])
    validation = data.splits["validation"]
    assert not {validation["corpus"][i] for i in validation["positive"]} & train


def _job(tmp_path: Path, task: str, base: Path) -> Path:
    job = {
        "name": "corpus", "task": task,
        "dataset": {"name": "korquad_v1", "max_train_samples": 200, "max_eval_samples": None},
        "model": {"base": str(base)},
        "train": {"max_length": 64, "max_query_length": 24, "eval_batch_size": 64},
        "search": {"metric": "val_mrr_at_10", "mode": "max"},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
        "storage_path": str(tmp_path / "results"),
    }  # fmt: skip
    path = tmp_path / f"{task}.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def test_the_untuned_tiny_model_and_bm25_lose_against_the_whole_corpus(tmp_path, data_dir, tiny_bert):
    """Scores of a dense encoder do not depend on the corpus, so more candidates can only push a
    positive down: every figure is at most the per-split one, and on KorQuAD strictly lower."""
    from finesweep.tasks.contrastive_embedding import TASK as DENSE
    from finesweep.tasks.sparse_encoder import TASK as SPARSE

    data = prepare_pairs(KORQUAD, str)
    before = _per_split(data)
    assert len(before.splits["validation"]["corpus"]) < 150 < data.eval_corpus_size(), "a split's own 60-120"
    for task, prefix in ((DENSE, "baseline_untuned_"), (SPARSE, "baseline_bm25_")):
        loaded = load_job(_job(tmp_path, task.name, tiny_bert))
        whole = task.baseline_metrics(loaded, data, str(tiny_bert))
        split_only = task.baseline_metrics(loaded, before, str(tiny_bert))
        for split in ("val", "test"):
            mrr = f"{prefix}{split}_mrr_at_10"
            assert whole[mrr] < split_only[mrr], (task.name, whole, split_only)
            if task is DENSE:
                for k in (1, 5, 10):
                    recall = f"{prefix}{split}_recall_at_{k}"
                    assert whole[recall] <= split_only[recall] + 1e-9, (recall, whole, split_only)
