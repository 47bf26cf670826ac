"""One prediction, shared by HTTP and WebSocket: preprocess → infer → count."""

from __future__ import annotations

import time

import numpy as np

from fingercount.inference import image_count
from fingercount.preprocessing import Pipeline
from fingercount.serving.model_manager import LoadedModel
from fingercount.serving.schemas import Prediction, PredictResponse


def predict_frame(
    loaded: LoadedModel, frame: np.ndarray, conf: float | None, blur: Pipeline | None
) -> tuple[PredictResponse, float, np.ndarray]:
    """The response, the engine's inference seconds (for the metrics) and the frame as the model saw it
    (blurred when asked: what monitoring judges)."""
    height, width = frame.shape[:2]
    if blur:
        frame = blur(frame)
    started = time.perf_counter()
    detections = loaded.predict(frame, conf)
    seconds = time.perf_counter() - started
    predictions = [
        Prediction(
            class_name=d.class_name,
            class_id=d.class_id,
            confidence=round(d.confidence, 4),
            bbox=[round(v, 1) for v in d.bbox],
            fingers=d.fingers,
            counted_by=d.counted_by,
        )
        for d in detections
    ]
    response = PredictResponse(
        finger_count=image_count(detections),
        predictions=predictions,
        preprocessing_applied=bool(blur),
        inference_time_ms=round(seconds * 1000, 2),
        model_name=loaded.info.name,
        model_version=loaded.info.version,
        image_size=[width, height],
        conf=loaded.info.count_conf if conf is None else conf,
    )
    return response, seconds, frame
