"""MLflow "models from code" entry: MLflow runs this file to build the model, so nothing is pickled."""

import mlflow.models

from fingercount.registry.pyfunc import FingerCountModel

mlflow.models.set_model(FingerCountModel())
