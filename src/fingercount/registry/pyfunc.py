"""The MLflow pyfunc flavour of a fingercount model, so MLflow's own tooling can run it.

`mlflow.pyfunc.load_model("models:/yolov11-finger-counting/1").predict(df)` takes a DataFrame
with an `image` column (encoded image bytes, or the same base64-encoded as text: what a JSON
request to `mlflow models serve` can carry) or one BGR `numpy` image, and returns one row per
detected hand. A string is never opened as a file unless the model was loaded with
`model_config={"allow_local_paths": True}` (or, for `mlflow models serve`, the operator sets
`MLFLOW_PYFUNC_INFERENCE_CONFIG='{"allow_local_paths": true}'`): a served model must not read the
server's files for whoever sends a request. It runs the engine serving would run (OpenVINO when the
version has it), through the same detection core.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np

from fingercount.registry.package import ModelPackage

COLUMNS = ["image", "class_id", "class_name", "confidence", "x1", "y1", "x2", "y2"]


class FingerCountModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    # Our input is a DataFrame of images: no type-hint validation, and no warning asking for hints.
    _skip_type_hint_validation = True

    def load_context(self, context: Any) -> None:
        package = ModelPackage.open(Path(context.artifacts["metadata"]).parent.parent)
        package.verify()
        self.metadata = package.metadata
        self.engine = package.served_engine("auto", threads=os.cpu_count() or 1)  # counted as it is served
        self.allow_local_paths = bool((context.model_config or {}).get("allow_local_paths", False))

    # No type hints on purpose: MLflow would turn them into a (wrong) input schema.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        import pandas as pd

        if isinstance(model_input, np.ndarray):
            images = [model_input]
        else:
            images = [self._image(index, item) for index, item in enumerate(model_input["image"])]
        conf = float((params or {}).get("conf", self.metadata.count_conf))
        rows = []
        for index, image in enumerate(images):
            for hand in self.engine.predict(image, conf):
                rows.append([index, hand.class_id, hand.class_name, hand.confidence, *hand.bbox])
        return pd.DataFrame(rows, columns=COLUMNS)

    def _image(self, index: int, item: Any) -> np.ndarray:
        import cv2

        if isinstance(item, np.ndarray) and item.ndim == 3:
            return item
        if isinstance(item, bytes | bytearray):
            data = bytes(item)
        elif isinstance(item, str):
            data = _from_base64(item)
        else:
            raise _bad_input(f"image {index}: expected bytes, base64 text or an image array, got {type(item).__name__}")
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
        if image is not None:
            return image
        if not isinstance(item, str):
            raise _bad_input(f"image {index} could not be decoded")
        if not self.allow_local_paths:
            raise _bad_input(
                f"image {index}: send the image's bytes, base64-encoded; file paths are refused "
                "(load the model with model_config={'allow_local_paths': True} to read local files)"
            )
        image = cv2.imread(item)
        if image is None:
            raise _bad_input(f"image {index}: {item} is not a readable image file")
        return image


def _from_base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""


def _bad_input(message: str) -> Exception:
    """A client error: `mlflow models serve` answers it with 400, not 500."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    error: Exception = MlflowException(message, error_code=INVALID_PARAMETER_VALUE)
    return error
