"""The way the seed served a model, as a user would write it: FastAPI holding `ultralytics.YOLO(best.pt)`.

    WEIGHTS=best.pt IMGSZ=160 CONF=0.25 uvicorn seed_app:app --app-dir benchmarks --port 8001

The baseline arm of `benchmarks/serving.py --compare`; not part of the platform.
"""

from __future__ import annotations

import os
from typing import Any

import cv2
import numpy as np
from fastapi import FastAPI, File, HTTPException, UploadFile
from ultralytics import YOLO

model = YOLO(os.environ["WEIGHTS"], task="detect")
IMGSZ = int(os.environ.get("IMGSZ", "640"))
CONF = float(os.environ.get("CONF", "0.25"))
app = FastAPI()


@app.post("/predict")
def predict(file: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008  (FastAPI's idiom)
    frame = cv2.imdecode(np.frombuffer(file.file.read(), np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise HTTPException(400, "not an image")
    result = model.predict(frame, imgsz=IMGSZ, conf=CONF, agnostic_nms=True, verbose=False)[0]
    hands = [
        {"class_name": result.names[int(c)], "confidence": float(s), "bbox": [float(v) for v in box]}
        for c, s, box in zip(result.boxes.cls, result.boxes.conf, result.boxes.xyxy, strict=True)
    ]
    return {"finger_count": sum(int(hand["class_name"]) for hand in hands), "predictions": hands}
