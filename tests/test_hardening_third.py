"""Hardening, third pass (issue 43 item 5): each hostile input is refused with one line, exit 2,
before anything is trained, embedded or written, and leaves no process behind.

Real components only: a closed port on 127.0.0.1, a real SQLite MLflow store whose tags are then
garbled, a real 30 KB text document and the shared data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from test_hardening import _env, _own_data_folder, assert_nothing_created, assert_refused, finesweep

from finesweep.tuning.execution.ray_runtime import free_local_port


def _processes_in(folder: Path) -> list[int]:
    """Pids of processes whose working folder is ``folder`` (a command's leftovers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == folder:
                    found.append(int(entry.name))
            except OSError:  # gone meanwhile, or not ours to read
                continue
    return found


def test_train_with_a_tracking_server_that_does_not_answer_says_so_before_training(tmp_path, data_dir):
    _own_data_folder(tmp_path, data_dir)
    port = free_local_port()  # nothing listens there
    done = finesweep("train", "job.yaml", "--output", "out", cwd=tmp_path, timeout=60,
                     env=_env(MLFLOW_TRACKING_URI=f"http://127.0.0.1:{port}"))  # fmt: skip
    assert_refused(done, f"MLflow tracking server http://127.0.0.1:{port} is unreachable", "Connection refused")
    assert "internal error" not in done.stderr and "MlflowException" not in done.stderr
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*")), "nothing was trained or staged"
    assert_nothing_created(tmp_path)
    assert _processes_in(tmp_path) == []


def _document(folder: Path, data_dir: Path, chars: int) -> Path:
    """A .txt document of at least ``chars`` characters of real sentences from the shared data."""
    lines = (data_dir / "emotion_carer" / "train.txt").read_text(encoding="utf-8").splitlines()
    text, count = "", 0
    while len(text) < chars:
        text += lines[count % len(lines)].rsplit(";", 1)[0] + ". "
        count += 1
    document = folder / "notes.txt"
    document.write_text(text, encoding="utf-8")
    return document


def test_search_refuses_an_overlap_that_barely_moves_the_window_before_loading_a_model(tmp_path, data_dir):
    """The case that embedded 30,000 passages of a 30 KB file for minutes: refused at once."""
    document = _document(tmp_path, data_dir, 30_000)
    env = _env(FINESWEEP_CACHE_DIR=str(tmp_path / "cache"))
    done = finesweep("search", "--model", str(tmp_path / "no-model"), "--corpus", str(document),
                     "--chunk-chars", "5", "--overlap", "4", "a query", cwd=tmp_path, env=env, timeout=60)  # fmt: skip
    assert_refused(done, "--overlap: at most half the chunk size 5, 2 (got 4", "move by 1", "in 5 passages")
    assert not (tmp_path / "cache").exists(), "no index was built"
    assert _processes_in(tmp_path) == []


def test_search_refuses_a_chunking_that_makes_too_many_passages_naming_the_count(tmp_path, data_dir):
    from finesweep.serving.chunking import MAX_PASSAGES, window_count

    document = _document(tmp_path, data_dir, 250_000)
    count = window_count(len(document.read_text(encoding="utf-8")), 2, 1)
    assert count > MAX_PASSAGES
    env = _env(FINESWEEP_CACHE_DIR=str(tmp_path / "cache"))
    done = finesweep("search", "--model", str(tmp_path / "no-model"), "--corpus", str(document),
                     "--chunk-chars", "2", "--overlap", "1", "a query", cwd=tmp_path, env=env, timeout=60)  # fmt: skip
    assert_refused(done, f"--chunk-chars 2 --overlap 1: would cut the corpus into {count:,} passages, more than {MAX_PASSAGES:,}")
    assert not (tmp_path / "cache").exists()


def test_window_count_matches_the_windows_made():
    from finesweep.serving.chunking import window_count, windows

    for length, size, overlap in ((10, 4, 1), (3, 512, 50), (8, 4, 0), (88_000, 512, 50), (9, 4, 2), (1, 1, 0)):
        assert window_count(length, size, overlap) == len(windows(length, size, overlap))


# ---------------------------------------------------------------------------------------------
# garbled tags in the store: one line naming the run, the tag and its value


GARBLED = {
    "objective-mode": ("finesweep.objective", '{"goals":[["val_macro_f1","sideways"]],"constraints":[]}'),
    "objective-not-json": ("finesweep.objective", "two"),
    "extensions": ("finesweep.extensions", "two"),
}


def _garbled_store(folder: Path, tag: str, value: str) -> tuple[str, str]:
    """A SQLite store holding ended sweep ``s1`` (one completed trial) whose parent's ``tag`` was
    then edited to ``value``; (tracking URI, parent run id)."""
    from mlflow.tracking import MlflowClient

    from finesweep.tracking.runs import SweepTracker

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    tracker = SweepTracker(uri, "hardening-exp", "s1")
    objective = '{"goals":[["val_macro_f1","max"]],"constraints":[]}'
    parent = tracker.parent.start(tags={"finesweep.task": "text_classification", "finesweep.objective": objective,
                                        "finesweep.metric": "val_macro_f1", "finesweep.mode": "max"}, params={})  # fmt: skip
    tracker.trials.child_run("t1", {"learning_rate": 1e-3})
    tracker.trials.log_epoch("t1", {"epoch": 1, "val_macro_f1": 0.5, "val_loss": 0.7})
    tracker.trials.finish("t1", "completed")
    tracker.parent.finish({"n_trials": 1}, {"finesweep.status": "finished"})
    MlflowClient(tracking_uri=uri).set_tag(parent, tag, value)
    return uri, parent


def _record(uri: str) -> list[tuple[str, dict[str, str]]]:
    """Every run of the store with its tags, to compare before and after a refused command."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return sorted((run.info.run_id, dict(run.data.tags)) for run in runs)


def _commands(kind: str, folder: Path, uri: str, tiny_bert: Path) -> list[tuple[str, ...]]:
    """The commands that read the garbled tag: the objective is read by all three, the extension
    count only by ``--resume --more``."""
    job = {"name": "hard", "dataset": {"name": "emotion_carer", "max_train_samples": 60, "max_eval_samples": 30},
           "model": {"base": str(tiny_bert)}, "search": {"num_samples": 1},
           "tracking": {"uri": uri, "experiment": "hardening-exp"}, "storage_path": str(folder / "results")}  # fmt: skip
    (folder / "job.yaml").write_text(yaml.safe_dump(job), encoding="utf-8")
    more = ("sweep", "job.yaml", "--name", "s1", "--resume", "--more", "1")
    if kind == "extensions":
        return [more]
    return [("leaderboard", "--sweep", "s1", "--tracking-uri", uri),
            ("promote-best-model", "--sweep", "s1", "--model-name", "m", "--dry-run", "--tracking-uri", uri), more]  # fmt: skip


@pytest.mark.parametrize("kind", sorted(GARBLED))
def test_a_garbled_tag_is_named_with_its_run_and_value(tmp_path, tiny_bert, kind):
    tag, value = GARBLED[kind]
    uri, parent = _garbled_store(tmp_path, tag, value)
    before = _record(uri)
    for command in _commands(kind, tmp_path, uri, tiny_bert):
        done = finesweep(*command, cwd=tmp_path, timeout=120)
        assert_refused(done, f"run {parent}: tag {tag} is {value!r}, not ", "set the tag back")
        assert "internal error" not in done.stderr, command
        assert _record(uri) == before, f"{command[0]} changed the record"
        assert not (tmp_path / "results").exists() and _processes_in(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# model.trust_remote_code: a job file alone cannot let a model folder's code run


def _remote_code_model(folder: Path, tiny_bert: Path) -> Path:
    """tiny_bert with an ``auto_map`` naming code of its own, which leaves ``ran.txt`` when imported."""
    import json
    import shutil

    model = folder / "remote-model"
    shutil.copytree(tiny_bert, model)
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (model / "evil.py").write_text(f"open({str(folder / 'ran.txt')!r}, 'w').write('ran')\n"
                                   "from transformers import BertConfig as EvilConfig, BertModel as EvilModel\n",
                                   encoding="utf-8")  # fmt: skip
    return model


def _remote_code_job(folder: Path, model: Path) -> Path:
    job = {"name": "remote", "dataset": {"name": "emotion_carer", "max_train_samples": 60, "max_eval_samples": 30},
           "model": {"base": str(model), "trust_remote_code": True}, "search": {"num_samples": 1},
           "tracking": {"uri": f"sqlite:///{folder / 'mlflow.db'}", "experiment": "remote"},
           "storage_path": str(folder / "results")}  # fmt: skip
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(job), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [("validate",), ("plan",), ("train", "--no-tracking"), ("sweep",),
                                     ("submit", "--address", "http://127.0.0.1:9")],
                         ids=lambda c: c[0])  # fmt: skip
def test_a_job_asking_to_run_model_code_is_refused_without_the_flag(tmp_path, tiny_bert, command):
    job = _remote_code_job(tmp_path, _remote_code_model(tmp_path, tiny_bert))
    done = finesweep(command[0], str(job), *command[1:], cwd=tmp_path, timeout=120)
    assert_refused(done, f"{job}: model.trust_remote_code: true would run the base model folder's own Python code",
                   "pass --trust-remote-code")  # fmt: skip
    assert not (tmp_path / "ran.txt").exists(), "the model folder's code ran"
    assert_nothing_created(tmp_path)
    assert not (tmp_path / "remote-model-model").exists() and _processes_in(tmp_path) == []


def test_the_flag_is_the_consent_the_job_file_cannot_give(tmp_path, tiny_bert):
    from finesweep.config import load_job
    from finesweep.errors import ConfigError
    from finesweep.settings import Settings

    job = _remote_code_job(tmp_path, _remote_code_model(tmp_path, tiny_bert))
    data = Settings.from_environment(os.environ)
    assert data.trust_remote_code is False, "no environment variable can give the consent"
    with pytest.raises(ConfigError, match="pass --trust-remote-code"):
        load_job(job, (), data)
    from dataclasses import replace

    assert load_job(job, (), replace(data, trust_remote_code=True)).job.model.trust_remote_code is True
    done = finesweep("validate", str(job), "--trust-remote-code", cwd=tmp_path, timeout=120)
    assert done.returncode == 0 and f"ok: {job}" in done.stdout, done.stderr
    untrusted = finesweep("validate", str(job), "--set", "model.trust_remote_code=false", cwd=tmp_path, timeout=120)
    assert untrusted.returncode == 0, untrusted.stderr


def test_submit_passes_the_consent_on_to_the_clusters_sweep(tmp_path):
    from finesweep.cluster.submit import build_entrypoint

    job = tmp_path / "job.yaml"
    job.write_text("name: x\n", encoding="utf-8")
    assert build_entrypoint(job, tmp_path, "s1", []) == "finesweep sweep job.yaml --name s1"
    assert build_entrypoint(job, tmp_path, "s1", [], trust_remote_code=True).endswith(" --name s1 --trust-remote-code")


def test_token_windows_are_bounded_as_they_are_cut(minilm_dir):
    """--chunk-tokens cannot be counted before the tokenizer loads: chunk_corpus stops at the bound."""
    from transformers import AutoTokenizer

    from finesweep.errors import FinesweepError
    from finesweep.serving.chunking import MAX_PASSAGES, Chunking, chunk_corpus
    from finesweep.serving.corpus import Corpus

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    documents = Corpus(("a.txt", "b.txt"), ("word " * 120_000, "word " * 120_000), "sha")
    with pytest.raises(FinesweepError, match=r"--chunk-tokens 2 --overlap 1: would cut the corpus into 239,9\d\d passages, "
                                             rf"more than {MAX_PASSAGES:,}"):  # fmt: skip
        chunk_corpus(documents, Chunking(2, 1, "tokens"), tokenizer)
    cut = chunk_corpus(Corpus(("a.txt",), ("word " * 1000,), "sha"), Chunking(2, 1, "tokens"), tokenizer)
    assert len(cut.ids) == 999 and cut.texts[0] == "word word"


def test_a_warm_start_source_with_a_garbled_objective_is_named(tmp_path):
    from finesweep.errors import TrackingError
    from finesweep.objective import MetricGoal, Objective
    from finesweep.tuning.search.warm_start import WarmStartRequest, warm_start

    tag, value = GARBLED["objective-mode"]
    uri, parent = _garbled_store(tmp_path, tag, value)
    request = WarmStartRequest("text_classification", Objective((MetricGoal("val_macro_f1", "max"),)), {}, "fp")
    with pytest.raises(TrackingError, match=f"run {parent}: tag {tag} is "):
        warm_start(uri, ["s1"], request)
