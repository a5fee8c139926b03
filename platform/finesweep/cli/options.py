"""The option texts several commands share (one wording for one option everywhere)."""

TRUST_HELP = ("Allow a job's model.trust_remote_code: true, which runs the base model folder's own Python code; "
              "a job file alone cannot allow it.")  # fmt: skip
COLUMN_HELP = "by header name, or 0-based position in a file without a header line (default: detected)"
TRACKING_HELP = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///./mlflow.db)."
MODEL_HELP = "models:/NAME@champion, models:/NAME/VERSION, models:/m-ID (a trial's logged model: its finesweep.model_uri tag) or a folder."
SET_HELP = "Override a job key: dotted.key=value (YAML value)."
JOB_HELP = "The job file, e.g. jobs/quickstart.yaml."
DEVICE_HELP = "cpu, cuda, cuda:1 (default: cuda if available)."
