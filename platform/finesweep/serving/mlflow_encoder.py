"""The MLflow pyfunc entry point of a finesweep encoder, logged as code ("models from code").

MLflow copies this file beside the model's artifacts and runs it on load: nothing is pickled.
"""

from __future__ import annotations

import os
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class FinesweepTextEncoder(PythonModel):
    """Input: a DataFrame with a ``text`` column. Output: one row per text, with ``vector`` (dense
    encoder) or ``terms`` (sparse encoder: its heaviest vocabulary pieces and their weights).
    ``params={"kind": "passage"}`` encodes passages instead of queries."""

    def load_context(self, context: Any) -> None:
        from finesweep.serving.encoder import TextEncoder
        from finesweep.settings import Settings

        # the entry point of MLflow's serving process: its settings come from its environment here
        settings = Settings.from_environment(os.environ)
        self.encoder = TextEncoder(context.artifacts["model_dir"], cache_dir=settings.cache_root() / "indexes")

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from finesweep.serving.corpus import texts_from

        texts = texts_from(model_input)
        kind = (params or {}).get("kind", "query")
        return pd.DataFrame(self.encoder.describe(texts, kind=kind))


mlflow.models.set_model(FinesweepTextEncoder())
