"""Loading trained models and predicting with them, from a folder or from the MLflow registry."""
