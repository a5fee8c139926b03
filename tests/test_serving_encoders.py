"""Serving encoders without a sweep: corpus files, exact dense search, sparse vectors as CSR rows,
the index cache, and the CLI's one-line errors. The encoders are the tiny BERT saved as finesweep
model folders (full weights); served sweep models are checked in tests/test_retrieval.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from finesweep.errors import DataError
from finesweep.serving.corpus import Corpus, read_corpus

PASSAGES = ["서울은 대한민국의 수도이다.", "The cat sat on the mat.", "Photosynthesis makes sugar from light.",
            "부산은 항구 도시이다.", "Paris is the capital of France."]  # fmt: skip


def _encoder_folder(tmp_path: Path, tiny_bert: Path, task: str) -> Path:
    """tiny_bert as a fully fine-tuned encoder folder of ``task`` (a fresh MLM head when sparse)."""
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    folder = tmp_path / task
    loader = AutoModelForMaskedLM if task == "sparse_encoder" else AutoModel
    loader.from_pretrained(tiny_bert).save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(folder)
    card = {"task": task, "finetuning": "full", "base_model": {"reference": str(tiny_bert)},
            "params": {"query_prefix": "query: ", "passage_prefix": "passage: ", "max_length": 32,
                       "max_query_length": 16}}  # fmt: skip
    (folder / "finesweep_model.json").write_text(json.dumps(card))
    return folder


@pytest.fixture(scope="module")
def dense(tmp_path_factory, tiny_bert):
    return _encoder_folder(tmp_path_factory.mktemp("dense"), tiny_bert, "contrastive_embedding")


@pytest.fixture(scope="module")
def sparse(tmp_path_factory, tiny_bert):
    return _encoder_folder(tmp_path_factory.mktemp("sparse"), tiny_bert, "sparse_encoder")


def test_corpus_files_in_every_format_with_and_without_ids(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"id": ["a", "b", "c"], "text": PASSAGES[:3]})
    frame.to_csv(tmp_path / "c.csv", index=False)
    frame.to_csv(tmp_path / "c.tsv", index=False, sep="\t")
    frame.to_json(tmp_path / "c.jsonl", orient="records", lines=True, force_ascii=False)
    frame.to_parquet(tmp_path / "c.parquet")
    for name in ("c.csv", "c.tsv", "c.jsonl", "c.parquet"):
        corpus = read_corpus(tmp_path / name)
        assert corpus.ids == ("a", "b", "c") and corpus.texts == tuple(PASSAGES[:3]), name
    (tmp_path / "c.txt").write_text("first\n\nsecond\n", encoding="utf-8")
    plain = read_corpus(tmp_path / "c.txt")
    assert plain.ids == ("1", "3") and plain.texts == ("first", "second"), "a line's number is its id"
    no_ids = read_corpus(tmp_path / "c.csv", id_column="missing")
    assert no_ids.ids == ("2", "3", "4"), "without an id column, the editor's row number (header is row 1)"
    assert read_corpus(tmp_path / "c.csv").checksum != read_corpus(tmp_path / "c.tsv").checksum


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("dup.csv", "id,text\na,x\na,y\n", "id 'a' appears in rows 2, 3; every passage needs its own id"),
        ("noid.csv", "id,text\na,x\n,y\n", "row 3: the 'id' column is empty"),
        ("number.jsonl", '{"id": "a", "text": "x"}\n{"id": "b", "text": 42}\n', "row 2: the 'text' field is a int, not text"),
        ("object.jsonl", '{"id": "a", "text": {"k": 1}}\n', "row 1: the 'text' field is a dict, not text"),
        ("empty.csv", "id,text\na,x\nb,\n", "row 3: the 'text' column is empty"),
        ("cols.csv", "id,body\na,x\n", "--text-column"),
        ("blank.txt", "\n\n", "no passages"),
        ("c.docx", "x", "--corpus must be"),
    ],
)
def test_bad_corpus_files_are_one_data_error_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as caught:
        read_corpus(path)
    assert str(path) in str(caught.value)
    with pytest.raises(DataError, match="not found"):
        read_corpus(tmp_path / "absent.csv")


def test_dense_search_is_the_exact_inner_product_and_the_index_is_cached(dense, tmp_path):
    from finesweep.serving.loading import load_model

    encoder = load_model(str(dense))
    encoder.cache_dir = tmp_path / "indexes"
    corpus = Corpus.from_texts(PASSAGES)
    vectors, queries = encoder.encode(PASSAGES, "passage"), encoder.encode(["capital city", "cat"], "query")
    assert vectors.dtype == np.float32 and vectors.shape == (5, 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5), "unit vectors: inner product is cosine"
    hits = encoder.search(["capital city", "cat"], corpus, top_k=3)
    for row, ranked in zip(queries @ vectors.T, hits):
        assert [h.id for h in ranked] == [str(i + 1) for i in np.argsort(-row, kind="stable")[:3]]
        assert [h.score for h in ranked] == pytest.approx(sorted(row, reverse=True)[:3], abs=1e-5)
    [cached] = list((tmp_path / "indexes").glob("*.npy"))
    assert np.array_equal(np.load(cached, allow_pickle=False), vectors)
    before = cached.stat().st_mtime_ns
    encoder.search(["cat"], Corpus.from_texts(PASSAGES), top_k=1)
    assert cached.stat().st_mtime_ns == before, "the same content reuses its index"
    encoder.search(["cat"], Corpus.from_texts(PASSAGES[:4]), top_k=1)
    assert len(list((tmp_path / "indexes").glob("*.npy"))) == 2, "other content, another index"
    assert len(encoder.search(["cat"], corpus, top_k=50)[0]) == 5, "top_k larger than the corpus"


def test_a_damaged_or_mismatched_index_file_is_rebuilt(dense, tmp_path):
    from finesweep.serving.encoder import TextEncoder

    encoder = TextEncoder(dense, cache_dir=tmp_path)
    corpus = Corpus.from_texts(PASSAGES)
    encoder.search(["cat"], corpus)
    [cached] = list(tmp_path.glob("*.npy"))
    cached.write_bytes(b"not an array")
    assert [h.id for h in encoder.search(["cat"], corpus, top_k=5)[0]]
    assert np.load(cached, allow_pickle=False).shape == (5, 32)


def test_sparse_vectors_are_csr_rows_never_dense_corpus_arrays(sparse, tmp_path):
    import scipy.sparse

    from finesweep.serving.encoder import TextEncoder

    encoder = TextEncoder(sparse, cache_dir=tmp_path)
    vocab = int(encoder.model.config.vocab_size)
    matrix = encoder.encode(PASSAGES, "passage")
    assert scipy.sparse.issparse(matrix) and matrix.format == "csr" and matrix.shape == (5, vocab)
    assert (matrix.data > 0).all(), "only non-zero terms are stored"
    special = encoder.tokenizer.all_special_ids
    assert matrix[:, special].nnz == 0, "special tokens are suppressed, as in training"
    hits = encoder.search(["capital"], Corpus.from_texts(PASSAGES), top_k=5)[0]
    dense_scores = (encoder.encode(["capital"], "query") @ matrix.T).toarray()[0]
    assert [h.score for h in hits] == pytest.approx(sorted(dense_scores, reverse=True), abs=1e-5)
    assert list(tmp_path.glob("*.npz")), "the inverted index is cached as a sparse matrix"
    [row] = encoder.describe(["서울은 대한민국의 수도이다."], kind="passage", top_terms=5)
    assert 0 < len(row["terms"]) <= 5 and list(row["terms"].values()) == sorted(row["terms"].values(), reverse=True)


def test_a_head_cut_to_the_training_corpus_pieces_serves_full_vocabulary_rows(tiny_bert, tmp_path):
    """`output_vocabulary: training_corpus` saves a head over a few pieces; served vectors are the
    full model's, restricted to those pieces, as CSR rows indexed by vocabulary id."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from finesweep.serving.encoder import TextEncoder
    from finesweep.tasks.sparse_encoder import corpus_terms, restrict_output_terms, splade_pool

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    terms = corpus_terms({"corpus": tokenizer(PASSAGES[:3])["input_ids"]})
    assert terms == sorted(set(terms)) and 5 < len(terms) < 100
    torch.manual_seed(0)
    full = AutoModelForMaskedLM.from_pretrained(tiny_bert).eval()
    with torch.no_grad():
        full.get_output_embeddings().bias.normal_(0.0, 1.0)  # some positive logits to compare
    cut = AutoModelForMaskedLM.from_pretrained(tiny_bert)
    cut.load_state_dict(full.state_dict())
    restrict_output_terms(cut, terms)
    assert cut.get_output_embeddings().weight.shape == (len(terms), 32)
    folder = tmp_path / "cut"
    cut.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    card = {"task": "sparse_encoder", "finetuning": "full", "base_model": {"reference": str(tiny_bert)},
            "output_terms": terms, "params": {"max_length": 32, "max_query_length": 16}}  # fmt: skip
    (folder / "finesweep_model.json").write_text(json.dumps(card))

    encoder = TextEncoder(folder, cache_dir=tmp_path)
    matrix = encoder.encode(PASSAGES, "passage")
    assert matrix.shape == (5, tokenizer.vocab_size) and matrix.nnz > 0
    assert set(matrix.indices.tolist()) <= set(terms), "only the training corpus's pieces carry weight"
    batch = tokenizer(PASSAGES, truncation=True, max_length=32, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = splade_pool(full, batch["input_ids"], batch["attention_mask"])[:, terms]
    expected[:, [terms.index(i) for i in tokenizer.all_special_ids if i in terms]] = 0.0  # suppressed
    assert matrix[:, terms].toarray() == pytest.approx(expected.numpy(), abs=1e-5)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finesweep", *args], capture_output=True, text=True, timeout=300)


def test_cli_search_and_predict_on_an_encoder_folder(dense, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(PASSAGES), encoding="utf-8")
    found = _cli("search", "--model", str(dense), "--corpus", str(corpus), "--top-k", "2", "cat", "capital")
    assert found.returncode == 0, found.stderr
    lines = found.stdout.splitlines()
    assert lines[0] == "query: cat" and lines[3] == "query: capital" and len(lines) == 6
    rank, rest = lines[1].split(None, 1)
    assert rank == "1" and rest.split("\t")[2] in PASSAGES
    vectors = _cli("predict", "--model", str(dense), "hello")
    assert vectors.returncode == 0 and vectors.stdout.startswith("32 dims [") and vectors.stdout.rstrip().endswith("\thello")


def test_cli_refuses_a_classifier_and_a_bad_corpus_in_one_line(tmp_path, dense):
    corpus = tmp_path / "c.csv"
    corpus.write_text("id,text\na,x\na,y\n", encoding="utf-8")
    bad = _cli("search", "--model", str(dense), "--corpus", str(corpus), "q")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "id 'a' appears in rows 2, 3" in bad.stderr
    classifier = tmp_path / "clf"
    classifier.mkdir()
    (classifier / "finesweep_model.json").write_text(json.dumps({"task": "text_classification", "label_names": ["a"]}))
    from finesweep.serving.loading import served_task

    assert served_task(classifier).name == "text_classification" and served_task(dense).name == "contrastive_embedding"
    (classifier / "finesweep_model.json").write_text(json.dumps({"task": "no_such_task"}))
    unknown = _cli("predict", "--model", str(classifier), "q")
    assert unknown.returncode == 2 and "a 'no_such_task' model; this finesweep serves" in unknown.stderr, unknown.stderr
    kind = _cli("predict", "--model", str(dense), "--kind", "doc", "q")
    assert kind.returncode == 2 and "--kind: must be query or passage" in kind.stderr


def test_mlflow_pyfunc_serves_an_encoder_from_code(dense, tmp_path):
    """The logged form: MLflow runs serving/mlflow_encoder.py on load (nothing unpickled)."""
    import mlflow
    import pandas as pd

    from finesweep import serving
    from finesweep.serving.corpus import texts_from

    path = tmp_path / "pyfunc"
    entry = Path(serving.__file__).with_name("mlflow_encoder.py")
    mlflow.pyfunc.save_model(path=str(path), python_model=str(entry), artifacts={"model_dir": str(dense)})
    out = mlflow.pyfunc.load_model(str(path)).predict(pd.DataFrame({"text": ["cat", "capital"]}))
    assert list(out["text"]) == ["cat", "capital"] and all(len(v) == 32 for v in out["vector"])
    assert texts_from(pd.DataFrame({"body": ["a", 1]})) == ["a", "1"] and texts_from(("x",)) == ["x"]


def test_passages_and_queries_holding_escape_sequences_print_escaped(tmp_path, dense):
    """A passage that would clear the screen (ESC [2J) reaches the terminal as text, in the table
    and in the vectors' lines, and the columns keep their tabs."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("clear\x1b[2J me\nThe cat sat on the mat.\n", encoding="utf-8")
    found = _cli("search", "--model", str(dense), "--corpus", str(corpus), "--top-k", "2", "q\x1b[31m")
    assert found.returncode == 0, found.stderr
    assert "\x1b" not in found.stdout and "clear\\x1b[2J me" in found.stdout and "q\\x1b[31m" in found.stdout
    assert all(line.count("\t") == 2 for line in found.stdout.splitlines()[1:])
    vectors = _cli("predict", "--model", str(dense), "bad\x1b]0;title\x07")
    assert vectors.returncode == 0 and "\x1b" not in vectors.stdout and "\x07" not in vectors.stdout


def test_chunk_windows_move_by_size_minus_overlap_and_end_at_the_document_end():
    from finesweep.errors import FinesweepError
    from finesweep.serving.chunking import chunking_from_options, windows

    assert windows(10, 4, 1) == [(0, 4), (3, 7), (6, 10)]
    assert windows(3, 512, 50) == [(0, 3)] and windows(8, 4, 0) == [(0, 4), (4, 8)]
    assert chunking_from_options(None, None, None) is None
    for chars, tokens, overlap, message in ((512, 64, None, "give one of them"), (None, None, 5, "needs --chunk-chars"),
                                            (100, None, 100, "less than the chunk size 100"), (0, None, None, "at least 1")):  # fmt: skip
        with pytest.raises(FinesweepError, match=message):
            chunking_from_options(chars, tokens, overlap)


@pytest.mark.parametrize("unit", ["chars", "tokens"])
def test_search_cuts_a_long_text_into_passages_named_by_document_and_span(dense, tmp_path, data_dir, unit):
    """An 88,000-character text (seed 003's size) from the shared data, as one .txt document."""
    import os

    from finesweep.serving.chunking import windows

    lines = (data_dir / "emotion_carer" / "train.txt").read_text(encoding="utf-8").splitlines()
    text, count = "", 0
    while len(text) < 88_000:
        text += lines[count].rsplit(";", 1)[0] + (".\n" if count % 7 == 6 else ". ")
        count += 1
    document = tmp_path / "wiki.txt"
    document.write_text(text, encoding="utf-8")
    size = "512" if unit == "chars" else "96"
    env = {**os.environ, "FINESWEEP_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "finesweep", "search", "--model", str(dense), "--corpus", str(document),
                           f"--chunk-{unit}", size, "--overlap", "50" if unit == "chars" else "10", "--top-k", "5", "--json",
                           lines[3].rsplit(";", 1)[0]], capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    [result] = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(result["hits"]) == 5
    for hit in result["hits"]:
        assert hit["document"] == "wiki.txt" and hit["id"] == f"wiki.txt:{hit['start']}-{hit['end']}"
        assert hit["text"] == text[hit["start"]:hit["end"]], "the span points back into the file"
        if unit == "chars":
            assert hit["end"] - hit["start"] <= 512
    if unit == "chars":
        passages = len(windows(len(text), 512, 50))
        [index] = list((tmp_path / "cache" / "indexes").glob("*.npy"))
        assert np.load(index, allow_pickle=False).shape[0] == passages, "one vector per 512-character window"
        again = subprocess.run([sys.executable, "-m", "finesweep", "search", "--model", str(dense), "--corpus", str(document),
                                "--chunk-chars", "256", "q"], capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert len(list((tmp_path / "cache" / "indexes").glob("*.npy"))) == 2, "other chunking, another index"
