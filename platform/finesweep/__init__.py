"""finesweep: hyperparameter sweeps for text-model fine-tuning on Ray Tune, Ray Train and MLflow.

Importing the package is cheap: torch, transformers, ray and mlflow are imported only by the
modules that train, tune or track.
"""

__version__ = "0.1.0"


def load_model(uri: str, device: str | None = None, batch_size: int = 64, tracking_uri: str | None = None,
               settings=None):  # fmt: skip
    """Load a trained model: ``models:/NAME@champion``, ``models:/NAME/VERSION``, a trial's
    ``models:/m-ID`` (its ``finesweep.model_uri`` tag) or a local folder.

    A classifier comes back as a :class:`finesweep.serving.classifier.TextClassifier` (call
    ``.predict(texts)``); an encoder as a :class:`finesweep.serving.encoder.TextEncoder` (call
    ``.encode(texts)`` for vectors and ``.search(queries, corpus, top_k=10)`` for ranked passages).

    ``settings`` (a :class:`finesweep.settings.Settings`; default: those in use, else the defaults)
    give the MLflow store when ``tracking_uri`` is None (``./mlflow.db`` by default) and an
    encoder's index cache; ``Settings.from_environment`` of the process environment reads them as the CLI does.
    """
    from finesweep.serving.loading import load_model as _load

    return _load(uri, device=device, batch_size=batch_size, tracking_uri=tracking_uri, settings=settings)
