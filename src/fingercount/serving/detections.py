"""Our detection type and the shared YOLO pre/post-processing for exported engines (numpy only).

Everything an engine returns is converted here, once, into `Detection`s in the original image's
pixels, with class-agnostic NMS (one box per hand).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114  # Ultralytics' letterbox grey


@dataclass(frozen=True)
class Detection:
    class_id: int
    class_name: str
    confidence: float
    bbox: tuple[float, float, float, float]  # x1, y1, x2, y2 in original pixels


@dataclass(frozen=True)
class Letterbox:
    scale: float
    pad_x: float
    pad_y: float


def letterbox(frame: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio, pad to size x size; NCHW float32 RGB in [0, 1]."""
    height, width = frame.shape[:2]
    scale = min(size / height, size / width)
    new_w, new_h = round(width * scale), round(height * scale)
    resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR) if scale != 1 else frame
    pad_x, pad_y = (size - new_w) / 2, (size - new_h) / 2
    top, left = round(pad_y - 0.1), round(pad_x - 0.1)
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = resized
    blob = cv2.dnn.blobFromImage(canvas, scalefactor=1 / 255.0, swapRB=True)
    return blob, Letterbox(scale, left, top)


def postprocess(
    output: np.ndarray,
    box: Letterbox,
    shape: tuple[int, int],
    names: list[str],
    conf: float,
    iou: float = 0.7,
    max_det: int = 300,
) -> list[Detection]:
    """YOLO head output (1, 4 + classes, anchors) -> detections, class-agnostic NMS."""
    predictions = output[0].T  # anchors x (cx, cy, w, h, scores...)
    scores = predictions[:, 4:]
    class_ids = scores.argmax(axis=1)
    confidences = scores[np.arange(len(scores)), class_ids]
    keep = confidences >= conf
    if not keep.any():
        return []
    xywh, class_ids, confidences = predictions[keep, :4], class_ids[keep], confidences[keep]
    xyxy = np.empty_like(xywh)
    xyxy[:, :2] = xywh[:, :2] - xywh[:, 2:] / 2
    xyxy[:, 2:] = xywh[:, :2] + xywh[:, 2:] / 2
    order = _nms(xyxy, confidences, iou)[:max_det]
    height, width = shape
    xyxy = (xyxy[order] - [box.pad_x, box.pad_y, box.pad_x, box.pad_y]) / box.scale
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, width)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, height)
    return [
        Detection(int(c), names[int(c)], float(p), (float(b[0]), float(b[1]), float(b[2]), float(b[3])))
        for c, p, b in zip(class_ids[order], confidences[order], xyxy, strict=True)
    ]


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first (class-agnostic)."""
    order = scores.argsort()[::-1]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        best = order[0]
        keep.append(best)
        rest = order[1:]
        x1 = np.maximum(boxes[best, 0], boxes[rest, 0])
        y1 = np.maximum(boxes[best, 1], boxes[rest, 1])
        x2 = np.minimum(boxes[best, 2], boxes[rest, 2])
        y2 = np.minimum(boxes[best, 3], boxes[rest, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        overlap = inter / (areas[best] + areas[rest] - inter + 1e-9)
        order = rest[overlap <= iou]
    return np.array(keep, dtype=int)
