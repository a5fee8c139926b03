"""The sweep's data as MLflow dataset inputs: what the runs table's Dataset column shows.

Each split (training, validation, test) becomes one MLflow dataset with a name (``<source>/train``),
the digest MLflow computes from its rows, its schema, and its source: the data file, or the
catalog's folder. MLflow stores a description of the rows, never the rows themselves.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd

# MLflow's names for what a dataset was used for (the `mlflow.data.context` input tag)
_CONTEXTS = {"train": "training", "validation": "validation", "test": "test"}


def split_frame(data: Any, split: str) -> pd.DataFrame:
    """One split as a table of readable rows: text and label names, or query and positive passage."""
    rows = data.splits[split]
    if "query" in rows:  # retrieval pairs: the positive passage of each query, by its corpus index
        corpus = rows["corpus"]
        return pd.DataFrame({"query": rows["query"], "passage": [corpus[i] for i in rows["positive"]]})
    names = data.label_names

    def label_text(label: Any) -> str:
        if isinstance(label, (list, tuple)):  # multi-label: every label the text carries
            return ",".join(names[int(i)] for i in label)
        return names[int(label)]

    return pd.DataFrame({"text": rows["text"], "label": [label_text(label) for label in rows["label"]]})


def data_location(data: Any, data_dir: str | None) -> str:
    """Where the data was read from: the user's file, else the catalog folder, else its source name."""
    files = list(getattr(data, "files", {}) or {})
    if files:
        return files[0]
    catalog = data.source.removeprefix("catalog:")
    if data_dir and data.source.startswith("catalog:"):
        return str(Path(data_dir) / catalog)
    return data.source


def dataset_inputs(data: Any, data_dir: str | None) -> list[Any]:
    """MLflow ``DatasetInput`` entities for every split of ``data``, tagged with its context."""
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    location = data_location(data, data_dir)
    name = data.source.removeprefix("catalog:") if data.source.startswith("catalog:") else Path(location).name
    inputs = []
    for split, context in _CONTEXTS.items():
        if split not in data.splits:
            continue
        frame = split_frame(data, split)
        with warnings.catch_warnings():
            # a local path matches MLflow's local-artifact source twice; it says so, and picks it
            warnings.simplefilter("ignore", UserWarning)
            dataset = from_pandas(frame, source=location, name=f"{name}/{split}",
                                  targets="label" if "label" in frame else None)  # fmt: skip
        inputs.append(DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)]))
    return inputs
