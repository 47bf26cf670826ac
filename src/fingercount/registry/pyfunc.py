"""The MLflow pyfunc flavour of a fingercount model, so MLflow's own tooling can run it.

`mlflow.pyfunc.load_model("models:/yolov11-finger-counting/1").predict(df)` takes a DataFrame
with an `image` column (file paths or encoded image bytes) or one BGR `numpy` image, and
returns one row per detected hand. It runs the engine serving would run (OpenVINO when the
version has it), through the same detection core.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np

from fingercount.registry.package import ModelPackage

COLUMNS = ["image", "class_id", "class_name", "confidence", "x1", "y1", "x2", "y2"]


class FingerCountModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def load_context(self, context: Any) -> None:
        package = ModelPackage.open(Path(context.artifacts["metadata"]).parent.parent)
        package.verify()
        self.metadata = package.metadata
        self.engine = package.engine("auto", threads=os.cpu_count() or 1)

    # No type hints on purpose: MLflow would turn them into a (wrong) input schema.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        import cv2
        import pandas as pd

        images: list[np.ndarray | None] = []
        if isinstance(model_input, np.ndarray):
            images.append(model_input)
        else:
            for item in model_input["image"]:
                if isinstance(item, bytes | bytearray):
                    images.append(cv2.imdecode(np.frombuffer(item, np.uint8), cv2.IMREAD_COLOR))
                else:
                    images.append(cv2.imread(str(item)))
        conf = float((params or {}).get("conf", self.metadata.count_conf))
        rows = []
        for index, image in enumerate(images):
            if image is None:
                raise ValueError(f"image {index} could not be decoded")
            for hand in self.engine.predict(image, conf):
                rows.append([index, hand.class_id, hand.class_name, hand.confidence, *hand.bbox])
        return pd.DataFrame(rows, columns=COLUMNS)
