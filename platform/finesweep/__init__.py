"""finesweep: hyperparameter sweeps for text-model fine-tuning on Ray Tune, Ray Train and MLflow.

Importing the package is cheap: torch, transformers, ray and mlflow are imported only by the
modules that train, tune or track.
"""

__version__ = "0.1.0"
