"""The MLflow pyfunc entry point of a finesweep model, logged as code ("models from code").

MLflow copies this file beside the model's artifacts and runs it on load, so no Python object is
pickled into the model: loading a registered model never unpickles anything.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class FinesweepTextClassifier(PythonModel):
    """Input: a DataFrame with a ``text`` column (or a list of strings). Output: label, confidence, scores."""

    def load_context(self, context: Any) -> None:
        from finesweep.serving.classifier import TextClassifier

        self.classifier = TextClassifier(context.artifacts["model_dir"])

    # model_input: a DataFrame, the one type hint MLflow infers no schema from (the logged signature
    # says `text`); lists of strings also work when the class is used directly
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from finesweep.serving.corpus import texts_from

        texts = texts_from(model_input)
        return pd.DataFrame(self.classifier.predict(texts))


mlflow.models.set_model(FinesweepTextClassifier())
