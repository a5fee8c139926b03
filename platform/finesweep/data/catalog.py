"""The dataset catalog: named public datasets, found in a local data directory or downloaded.

Like ``torchvision.datasets`` or ``sklearn.datasets``, each entry names its files with their
canonical public download location and sha256. Files are looked up first in
``$FINESWEEP_DATA_DIR/<dataset>/`` (tests and CI point it at ``../shared/data``), then in the
download cache ``$FINESWEEP_CACHE_DIR`` (default ``~/.cache/finesweep/datasets``); a file found
nowhere is downloaded into the cache and its checksum verified before use.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:  # pandas is imported by the loaders: validating a job file stays light
    import pandas as pd

from finesweep.errors import DataError
from finesweep.files import sha256_of
from finesweep.settings import in_use

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name in the dataset folder, where it is published, its sha256."""

    name: str
    url: str
    sha256: str


@dataclass(frozen=True)
class CatalogEntry:
    """A named dataset and how to turn its files into labelled text frames per split.

    ``load`` returns a mapping from split name to a frame with columns ``text`` and ``label``
    (label names as strings). Splits the dataset does not ship are carved out later, stratified.
    """

    name: str
    description: str
    language: str
    license: str
    label_names: tuple[str, ...]
    files: tuple[RemoteFile, ...]
    load: Callable[[dict[str, Path]], dict[str, pd.DataFrame]]
    # "labels": frames of (text, label) for classification; "pairs": frames of (query, passage,
    # group) for retrieval, where ``group`` (an article) keeps related passages in one split
    kind: str = "labels"
    multi_label: bool = False  # labels are separator-joined label names, any number per text
    folder: str = ""  # the files' folder in the data directory and cache, when another view shares them

    @property
    def files_folder(self) -> str:
        """Folder holding this entry's files (its own name unless it is a view of another's files)."""
        return self.folder or self.name


def _gh(repo: str, commit: str, path: str) -> str:
    """A download URL for a file at a fixed commit of a public GitHub repository."""
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def _read_tsv(path: Path, **kwargs) -> pd.DataFrame:
    import pandas as pd

    # quoting=3 (QUOTE_NONE): Korean comments contain unbalanced quote characters.
    return pd.read_csv(path, sep="\t", quoting=3, dtype=str, keep_default_na=False, **kwargs)


def _load_davidson(files: dict[str, Path]) -> dict[str, pd.DataFrame]:
    import pandas as pd

    frame = pd.read_csv(files["labeled_data.csv"])  # tweets hold quoted newlines: a real CSV parser
    names = DAVIDSON_LABELS
    return {"all": pd.DataFrame({"text": frame["tweet"].astype(str), "label": frame["class"].map(lambda i: names[i])})}


def _load_carer(files: dict[str, Path]) -> dict[str, pd.DataFrame]:
    import pandas as pd

    def read(name: str) -> pd.DataFrame:
        frame = pd.read_csv(files[name], sep=";", header=None, names=["text", "label"], dtype=str)
        return frame.dropna().reset_index(drop=True)

    return {"train": read("train.txt"), "validation": read("val.txt"), "test": read("test.txt")}


def _load_korean_hate(files: dict[str, Path]) -> dict[str, pd.DataFrame]:
    import pandas as pd

    def read(name: str) -> pd.DataFrame:
        frame = _read_tsv(files[name])
        return pd.DataFrame({"text": frame["comments"], "label": frame["hate"]})

    # The labelled release has train and dev only: dev is the held-out test split, and the
    # validation split used for selection is carved out of train.
    return {"train": read("train.tsv"), "test": read("dev.tsv")}


def _load_goemotions_ekman(files: dict[str, Path]) -> dict[str, pd.DataFrame]:
    import pandas as pd

    fine_labels = files["label.txt"].read_text(encoding="utf-8").split()
    mapping = json.loads(files["ekman_mapping.json"].read_text(encoding="utf-8"))
    to_ekman = {fine: ekman for ekman, fines in mapping.items() for fine in fines}
    to_ekman["neutral"] = "neutral"

    def read(name: str) -> pd.DataFrame:
        frame = _read_tsv(files[name], header=None, names=["text", "labels"])
        ekman = frame["labels"].map(lambda ids: {to_ekman[fine_labels[int(i)]] for i in ids.split(",")})
        single = ekman.map(len) == 1  # keep rows whose labels map to exactly one Ekman class
        return pd.DataFrame({"text": frame["text"][single], "label": ekman[single].map(lambda s: next(iter(s)))})

    return {"train": read("train.tsv"), "validation": read("dev.tsv"), "test": read("test.tsv")}


def _load_goemotions_multilabel(files: dict[str, Path]) -> dict[str, pd.DataFrame]:
    """All 28 GoEmotions labels per text, comma-joined names (multi-label)."""
    import pandas as pd

    names = files["label.txt"].read_text(encoding="utf-8").split()

    def read(name: str) -> pd.DataFrame:
        frame = _read_tsv(files[name], header=None, names=["text", "labels"])
        labels = frame["labels"].map(lambda ids: ",".join(names[int(i)] for i in ids.split(",")))
        return pd.DataFrame({"text": frame["text"], "label": labels})

    return {"train": read("train.tsv"), "validation": read("dev.tsv"), "test": read("test.tsv")}


GOEMOTIONS_LABELS = (
    "admiration amusement anger annoyance approval caring confusion curiosity desire disappointment disapproval "
    "disgust embarrassment excitement fear gratitude grief joy love nervousness optimism pride realization relief "
    "remorse sadness surprise neutral"
).split()


def _load_korquad_pairs(files: dict[str, Path]) -> dict[str, pd.DataFrame]:
    """(question, its paragraph, article title) for every question; built in memory because the
    licence (CC BY-ND) asks for the file to stay unmodified."""
    import pandas as pd

    articles = json.loads(files["KorQuAD_v1.0_dev.json"].read_text(encoding="utf-8"))["data"]
    rows = [
        (qa["question"], paragraph["context"], article["title"])
        for article in articles
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]
    return {"all": pd.DataFrame(rows, columns=["query", "passage", "group"])}


def _abstract_sentences(text: str) -> list[str]:
    """Sentences of a numpy-array repr like ``['One.'\n 'Two.']`` (newline-separated, so
    ``ast.literal_eval`` would merge them): every string token, each literal-evaluated."""
    import ast
    import io
    import tokenize

    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return [ast.literal_eval(token.string) for token in tokens if token.type == tokenize.STRING]


def _load_scifact_pairs(files: dict[str, Path]) -> dict[str, pd.DataFrame]:
    """(claim, title + abstract, abstract id) for every relevant pair of the train and test qrels,
    and as ``corpus`` every one of BEIR's 5,183 abstracts (the evaluation ranks them all)."""
    import pandas as pd

    queries = pd.read_json(files["queries.jsonl"], lines=True, dtype={"_id": str}).set_index("_id")["text"]
    corpus = pd.read_csv(files["corpus_train.csv"], dtype={"doc_id": str})
    passages = dict(zip(corpus["doc_id"], corpus["title"] + " " + corpus["abstract"].map(lambda a: " ".join(_abstract_sentences(a)))))
    qrels = pd.concat([pd.read_csv(files[name], sep="\t", dtype=str) for name in ("qrels/train.tsv", "qrels/test.tsv")])
    frame = pd.DataFrame({
        "query": qrels["query-id"].map(queries),
        "passage": qrels["corpus-id"].map(passages),
        "group": qrels["corpus-id"],
    })  # fmt: skip
    return {"all": frame.dropna().reset_index(drop=True), "corpus": pd.DataFrame({"passage": list(passages.values())})}


DAVIDSON_LABELS = ("hate_speech", "offensive_language", "neither")
_DAVIDSON = ("t-davidson/hate-speech-and-offensive-language", "cb50f7e9eb855a99abc51423bf40df0e26d6fe30")
_CARER = ("Ashugujjar3/Tweet_emotion-detector", "8e69c5edbf5ec06fcd9d9ca00ed32675f24cd1bd")
_KOCOHUB = ("kocohub/korean-hate-speech", "f8d05dce2b22007bb149e5139c0060c68ad8f94b")
_GOEMO_KO = ("monologg/GoEmotions-Korean", "e708cb1af26140ed1f3724d53d88717b77c26e0e")
_GOOGLE_RESEARCH = ("google-research/google-research", "7c35f3f048c1bbf1416bf12491e4a2e528f2f988")
_SCIFACT_QUERIES = ("Kirloxious/CSI4107_Assignment2", "640c17fd9b4a27f3962d702351016bb677d74305")
_KORQUAD = ("korquad/korquad.github.io", "61d7d6682948375dd8f06ef27e788fd19982af38")
# Both GoEmotions-Korean views (Ekman-7, all 28 labels) read the same files from the same folder.
_GOEMO_KO_FILES = (
    RemoteFile("train.tsv", _gh(*_GOEMO_KO, "data/train.tsv"), "1e2ae5688f0c24ce14319f660fde0bb66aaf566bbc80b9503642c4304b89ad68"),
    RemoteFile("dev.tsv", _gh(*_GOEMO_KO, "data/dev.tsv"), "baa90064989b56d283618d855194b53bbdad7aab3a8a79488d054d28ad21649b"),
    RemoteFile("test.tsv", _gh(*_GOEMO_KO, "data/test.tsv"), "6ea2446467a22336389e80db7525ae6857c9128c61419c56f73a7bae2ecf455d"),
    RemoteFile("label.txt", _gh(*_GOEMO_KO, "data/label.txt"), "45c3ef86782d2a4d7fedcd6d8c111aa0d0e94720689bd164fac94fefb4495a89"),
)

def _nsmc_entry() -> CatalogEntry:
    from finesweep.data import nsmc

    return CatalogEntry(
        name="nsmc",
        description="NSMC-style Naver movie reviews (Korean): 9,193 rated 1-4 (negative) or 9-10 (positive), split by movie",
        language="ko",
        license="CC0 1.0",
        label_names=nsmc.LABELS,
        files=tuple(RemoteFile(f"raw/{movie}.json", _gh(*nsmc.REPOSITORY, f"raw/{movie}.json"), digest)
                    for movie, digest in nsmc.FILES.items()),  # fmt: skip
        load=nsmc.load_nsmc,
        folder="nsmc_raw_subset",
    )


CATALOG: dict[str, CatalogEntry] = {
    "nsmc": _nsmc_entry(),
    "davidson_hate": CatalogEntry(
        name="davidson_hate",
        description="Davidson et al. 2017 tweets: hate speech / offensive language / neither",
        language="en",
        license="MIT",
        label_names=DAVIDSON_LABELS,
        files=(
            RemoteFile(
                "labeled_data.csv",
                _gh(*_DAVIDSON, "data/labeled_data.csv"),
                "fcb8bc7c68120ae4af04a5b9acd58585513ede11e1548ebf36a5c2040b6f6281",
            ),
        ),
        load=_load_davidson,
    ),
    "emotion_carer": CatalogEntry(
        name="emotion_carer",
        description="CARER / dair-ai emotion: 6 emotions in English sentences",
        language="en",
        license="research and educational use (dair-ai)",
        label_names=("sadness", "joy", "love", "anger", "fear", "surprise"),
        files=(
            RemoteFile("train.txt", _gh(*_CARER, "train.txt"), "3ab03d945a6cb783d818ccd06dafd52d2ed8b4f62f0f85a09d7d11870865b190"),
            RemoteFile("val.txt", _gh(*_CARER, "val.txt"), "7fa30d571b1125accbc2b55ca6cd28ea05f3cfdd885c8ebe525323dc84dd64d3"),
            RemoteFile("test.txt", _gh(*_CARER, "test.txt"), "60f531690d20127339e7f054edc299a82c627b5ec0dd5d552d53d544e0cfcc17"),
        ),
        load=_load_carer,
    ),
    "korean_hate_speech": CatalogEntry(
        name="korean_hate_speech",
        description="kocohub BEEP! Korean news comments: hate / offensive / none",
        language="ko",
        license="CC BY-SA 4.0",
        label_names=("none", "offensive", "hate"),
        files=(
            RemoteFile(
                "train.tsv",
                _gh(*_KOCOHUB, "labeled/train.tsv"),
                "ebebacdcd023af2c4acc8c0a37695fb6433ac04fc009feff8f222724e303a5a9",
            ),
            RemoteFile(
                "dev.tsv", _gh(*_KOCOHUB, "labeled/dev.tsv"), "232b615d6e359a9d31dfb8370f32e1733dc5bb3f9c5430d34d7fcc7ba4b7e8ef"
            ),
        ),
        load=_load_korean_hate,
    ),
    "goemotions_ko": CatalogEntry(
        name="goemotions_ko",
        description="GoEmotions machine-translated to Korean, single-label Ekman-7 view (6 emotions + neutral)",
        language="ko",
        license="Apache-2.0",
        label_names=("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"),
        files=(
            *_GOEMO_KO_FILES,
            RemoteFile(
                "ekman_mapping.json",
                _gh(*_GOOGLE_RESEARCH, "goemotions/data/ekman_mapping.json"),
                "d6b1fea382917c1685c42e1324a0344106be9390f52a3850ce032656d103a328",
            ),
        ),
        load=_load_goemotions_ekman,
    ),
    "goemotions_ko_multilabel": CatalogEntry(
        name="goemotions_ko_multilabel",
        description="GoEmotions machine-translated to Korean, all 28 labels (multi-label: about 16% of texts carry several)",
        language="ko",
        license="Apache-2.0",
        label_names=tuple(GOEMOTIONS_LABELS),
        files=_GOEMO_KO_FILES,
        load=_load_goemotions_multilabel,
        multi_label=True,
        folder="goemotions_ko",
    ),
    "korquad_v1": CatalogEntry(
        name="korquad_v1",
        description="KorQuAD 1.0 dev: 5,774 Korean Wikipedia questions paired with their paragraph (964 paragraphs, 960 distinct passages, 140 articles)",
        language="ko",
        license="CC BY-ND 2.0 KR",
        label_names=(),
        files=(
            RemoteFile(
                "KorQuAD_v1.0_dev.json",
                _gh(*_KORQUAD, "dataset/KorQuAD_v1.0_dev.json"),
                "25ffeb51e6c51ec02c071b60a10188e10005c144110f0d876b26079d80a35bdf",
            ),
        ),
        load=_load_korquad_pairs,
        kind="pairs",
    ),
    "scifact": CatalogEntry(
        name="scifact",
        description="SciFact (BEIR): 1,258 scientific claims paired with the abstracts that support or refute them",
        language="en",
        license="claims CC BY 4.0; abstracts ODC-By 1.0",
        label_names=(),
        files=(
            RemoteFile(
                "queries.jsonl", _gh(*_SCIFACT_QUERIES, "scifact/queries.jsonl"),
                "8ff84a7c903f722981cd8d595c022660140c51867b27608a6d4910db86080313",
            ),
            RemoteFile(
                "qrels/train.tsv", _gh(*_SCIFACT_QUERIES, "scifact/qrels/train.tsv"),
                "ac0902d9b1cb717df182aaff1306175877fdb8f55bb5c3e8597ad694fc8e539f",
            ),
            # BEIR's test qrels with CRLF line ends made LF, and the corpus as a CSV export from an
            # archive: neither has a byte-identical direct download, so they come from the data directory
            RemoteFile("qrels/test.tsv", "", "68c0ac63f1c24b9e8ce497649694f09b2d0850bab7ec2b103cc66996f5f8b3a3"),
            RemoteFile("corpus_train.csv", "", "f4a79c38ef6abf2ebb23612d155e77b4add75cc94f218e9a5d70a454fe3190b4"),
        ),  # fmt: skip
        load=_load_scifact_pairs,
        kind="pairs",
        folder="scifact_beir",
    ),
}


# A data directory given for one block of code (``recorded_data_dir``): promotion and reports
# re-read a sweep's data from where the sweep found it, whatever the environment says now.
_DATA_DIR_OVERRIDE: contextvars.ContextVar[Path | None] = contextvars.ContextVar("finesweep_data_dir", default=None)


def data_dir() -> Path | None:
    """The local data directory: the one a sweep recorded while re-reading its data, else the
    settings' ``data_dir`` (:func:`finesweep.settings.in_use`; $FINESWEEP_DATA_DIR from the CLI), else None."""
    override = _DATA_DIR_OVERRIDE.get()
    return override if override is not None else in_use().data_dir


@contextlib.contextmanager
def recorded_data_dir(path: Path | None) -> Iterator[None]:
    """Read catalog files from ``path`` (a sweep's recorded data directory) inside the block."""
    token = _DATA_DIR_OVERRIDE.set(path)
    try:
        yield
    finally:
        _DATA_DIR_OVERRIDE.reset(token)


def cache_dir() -> Path:
    """Where downloaded catalog files are kept: the settings' ``cache_dir`` itself
    ($FINESWEEP_CACHE_DIR from the CLI), else ~/.cache/finesweep/datasets."""
    settings = in_use()
    return settings.cache_dir.expanduser() if settings.cache_dir else settings.cache_root() / "datasets"


def _download(remote: RemoteFile, target: Path) -> None:
    if not remote.url:
        raise DataError(
            f"{remote.name} has no direct public download (it ships inside an archive); put the file at {target} "
            "or set FINESWEEP_DATA_DIR to a folder holding it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    print(f"finesweep: downloading {remote.url}")
    try:
        with urllib.request.urlopen(remote.url, timeout=60) as response, partial.open("wb") as out:  # noqa: S310
            while block := response.read(1 << 20):
                out.write(block)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DataError(
            f"cannot download {remote.url} ({exc}); put the file at {target} or set FINESWEEP_DATA_DIR "
            "to a folder holding it"
        ) from None
    partial.replace(target)


def locate_file(entry: CatalogEntry, remote: RemoteFile) -> Path:
    """Find (or download) one catalog file and verify its sha256."""
    candidates = []
    local = data_dir()
    if local is not None:
        candidates.append(local / entry.files_folder / remote.name)
    cached = cache_dir() / entry.files_folder / remote.name
    candidates.append(cached)
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        _download(remote, cached)
        path = cached
    actual = sha256_of(path)
    if actual != remote.sha256:
        raise DataError(f"{path}: sha256 is {actual}, expected {remote.sha256} (corrupt or different file)")
    return path


def catalog_entry(name: str) -> CatalogEntry:
    """The catalog entry called ``name``, or a DataError listing the known names."""
    if name not in CATALOG:
        raise DataError(f"unknown catalog dataset {name!r}; known: {', '.join(sorted(CATALOG))}")
    return CATALOG[name]


def load_catalog_dataset(name: str) -> tuple[dict[str, pd.DataFrame], list[str], list[str]]:
    """Load a catalog dataset: frames per shipped split, label names, sha256 of each file."""
    entry = catalog_entry(name)
    paths = {remote.name: locate_file(entry, remote) for remote in entry.files}
    return entry.load(paths), list(entry.label_names), [remote.sha256 for remote in entry.files]
