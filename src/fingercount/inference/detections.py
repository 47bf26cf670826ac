"""Our detection type, YOLO pre/post-processing for exported engines, and the image count.

Everything an engine returns is converted here, once, into `Detection`s in the original image's
pixels, with class-agnostic NMS (one box per hand).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from fingercount.counting import finger_count

PAD_VALUE = 114  # Ultralytics' letterbox grey
NMS_IOU = 0.7  # Ultralytics' default
MAX_DETECTIONS = 300


@dataclass(frozen=True)
class Detection:
    class_id: int
    class_name: str
    confidence: float
    bbox: tuple[float, float, float, float]  # x1, y1, x2, y2 in original pixels
    counted_by: str = "classes"  # the version's count head: classes, landmarks (the crop), photo or keypoints
    # A pose model's 21 hand landmarks (`model.landmarks`), x, y in original pixels; None: a detector.
    keypoints: tuple[tuple[float, float], ...] | None = None

    @property
    def fingers(self) -> int:
        """Raised fingers of this hand (0 for a class name that is not a count)."""
        return finger_count(self.class_name) or 0


def image_count(detections: Iterable[Detection]) -> int:
    """The image's finger count: the sum over its hands."""
    return sum(d.fingers for d in detections)


@dataclass(frozen=True)
class Letterbox:
    scale: float
    pad_x: float
    pad_y: float


def letterbox(frame: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio, pad to size x size; NCHW float32 RGB in [0, 1]."""
    height, width = frame.shape[:2]
    scale = min(size / height, size / width)
    new_w, new_h = max(round(width * scale), 1), max(round(height * scale), 1)  # a 1-px-thin frame keeps a row
    resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR) if scale != 1 else frame
    pad_x, pad_y = (size - new_w) / 2, (size - new_h) / 2
    top, left = round(pad_y - 0.1), round(pad_x - 0.1)
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = resized
    blob = cv2.dnn.blobFromImage(canvas, scalefactor=1 / 255.0, swapRB=True)
    return blob, Letterbox(scale, left, top)


def decode(
    output: np.ndarray,
    box: Letterbox,
    shape: tuple[int, int],
    names: list[str],
    conf: float,
    iou: float = NMS_IOU,
    max_det: int = MAX_DETECTIONS,
) -> list[Detection]:
    """An exported YOLO head's output (1, 4 + classes [+ keypoints x, y, visibility], anchors) ->
    detections, class-agnostic NMS."""
    predictions = output[0].T  # anchors x (cx, cy, w, h, scores... [, keypoints...])
    scores = predictions[:, 4 : 4 + len(names)]
    class_ids = scores.argmax(axis=1)
    confidences = scores[np.arange(len(scores)), class_ids]
    keep = confidences >= conf
    if not keep.any():
        return []
    xywh, class_ids, confidences = predictions[keep, :4], class_ids[keep], confidences[keep]
    xyxy = np.empty_like(xywh)
    xyxy[:, :2] = xywh[:, :2] - xywh[:, 2:] / 2
    xyxy[:, 2:] = xywh[:, :2] + xywh[:, 2:] / 2
    order = nms(xyxy, confidences, iou)[:max_det]
    height, width = shape
    xyxy = (xyxy[order] - [box.pad_x, box.pad_y, box.pad_x, box.pad_y]) / box.scale
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, width)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, height)
    points = None
    if predictions.shape[1] > 4 + len(names):  # a pose model's keypoints (x, y, visibility) follow the classes
        points = predictions[keep][order, 4 + len(names) :].reshape(len(order), -1, 3)[..., :2]
        points = (points - [box.pad_x, box.pad_y]) / box.scale
    return [
        Detection(
            int(c), names[int(c)], float(p), (float(b[0]), float(b[1]), float(b[2]), float(b[3])),
            keypoints=_points(points[i]) if points is not None else None,
        )
        for i, (c, p, b) in enumerate(zip(class_ids[order], confidences[order], xyxy, strict=True))
    ]  # fmt: skip


def _points(points: np.ndarray) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y in points)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy class-agnostic NMS (OpenCV's), highest score first."""
    if len(boxes) == 0:
        return np.empty(0, dtype=int)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    kept = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, iou)
    return np.asarray(kept, dtype=int).reshape(-1)


def from_ultralytics(result: Any, names: list[str]) -> list[Detection]:
    """One Ultralytics `Results` -> detections (its boxes are already in original pixels)."""
    boxes = result.boxes
    if boxes is None:
        return []
    keypoints = result.keypoints.xy.cpu().numpy() if getattr(result, "keypoints", None) is not None else None
    return [
        Detection(
            int(c), names[int(c)], float(p), (float(b[0]), float(b[1]), float(b[2]), float(b[3])),
            keypoints=_points(keypoints[i]) if keypoints is not None else None,
        )
        for i, (c, p, b) in enumerate(zip(boxes.cls.tolist(), boxes.conf.tolist(), boxes.xyxy.tolist(), strict=True))
    ]  # fmt: skip
