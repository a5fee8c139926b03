"""What a completed trial leaves in MLflow besides its metrics: the model (once, as an MLflow pyfunc
model named after the trial, with pinned requirements), its reports and plots, and its resolved
configuration as JSON (every trial, from its start). Resume state (optimizer, trainable weights, progress, manifest) stays in
``storage_path``, where ``--resume`` reads it."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

from finesweep.redact import redact

CONFIG_ARTIFACT = "trial_config.json"
CARD = "finesweep_model.json"


def served_folder(checkpoint: Path) -> Path | None:
    """The folder the task's runtime wrote its served model to: the one holding a model card."""
    return next((card.parent for card in sorted(checkpoint.glob(f"*/{CARD}"))), None)


def resume_state_names() -> set[str]:
    """The checkpoint files only ``--resume`` needs (training/checkpoint.py writes them)."""
    from finesweep.training.checkpoint import MANIFEST, PROGRESS, STATE, WEIGHTS

    return {WEIGHTS, STATE, PROGRESS, MANIFEST}


def log_trial_config(client: Any, run_id: str, config: dict[str, Any]) -> None:
    """The trial's resolved configuration as ``trial_config.json``, logged when its run is created,
    so that every trial (pruned and failed ones too) has it: MLflow's compare view breaks on a run
    with no artifact at all."""
    client.log_text(run_id, redact(json.dumps(config, indent=2, sort_keys=True, default=str)), CONFIG_ARTIFACT)


def log_trial_artifacts(client: Any, run_id: str, checkpoint: Path) -> None:
    """Reports and plots of the final checkpoint; never the resume state or the model folder (the
    model is logged once, as the MLflow model)."""
    skipped = resume_state_names()
    served = served_folder(checkpoint)
    for path in sorted(checkpoint.iterdir()):
        if path.name in skipped or path.name.startswith(".") or path == served:
            continue
        if path.is_dir():
            client.log_artifacts(run_id, str(path), path.name)
        elif path.is_file():
            client.log_artifact(run_id, str(path))


def log_trial_model(client: Any, run_id: str, model_dir: Path, name: str) -> str:
    """Log ``model_dir`` as an MLflow pyfunc model (from code: nothing pickled) named ``name``,
    linked to the trial's run; return its ``models:/<model_id>`` URI."""
    import mlflow
    from mlflow.entities import LoggedModelOutput
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from finesweep import serving
    from finesweep.serving.loading import served_task
    from finesweep.tracking.provenance import pinned_requirements

    task = served_task(model_dir)  # the model card says which task serves it, and how
    outputs = Schema([ColSpec(kind, column) for kind, column in task.pyfunc_outputs]) if task.pyfunc_outputs else None
    signature = ModelSignature(inputs=Schema([ColSpec("string", "text")]), outputs=outputs)
    # the entry file, by path: importing it would run its set_model() in this process
    entry = Path(serving.__file__).with_name(task.pyfunc_entry)
    run = client.get_run(run_id)
    model = client.create_logged_model(
        run.info.experiment_id, name=name, source_run_id=run_id, model_type="pyfunc",
        params={key: str(value) for key, value in run.data.params.items()},
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="finesweep-model-") as tmp, warnings.catch_warnings():
        # MLflow suggests an input example; the explicit signature above already describes the
        # input, and an example would load the model once more to check it
        warnings.filterwarnings("ignore", message=".*input example.*", category=UserWarning)
        folder = Path(tmp) / "model"
        mlflow.pyfunc.save_model(path=str(folder), python_model=str(entry), artifacts={"model_dir": str(model_dir)},
                                 pip_requirements=pinned_requirements(), signature=signature)  # fmt: skip
        client.log_model_artifacts(model.model_id, str(folder))
    client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
    client.finalize_logged_model(model.model_id, "READY")
    return f"models:/{model.model_id}"
