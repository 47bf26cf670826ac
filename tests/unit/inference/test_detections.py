"""The detection core on hand-made inputs: letterbox geometry, decoding, NMS, Ultralytics conversion."""

from __future__ import annotations

import numpy as np
import pytest

from fingercount.inference.detections import (
    PAD_VALUE,
    Detection,
    Letterbox,
    decode,
    from_ultralytics,
    image_count,
    letterbox,
    nms,
)

NAMES = ["1", "2", "3", "4", "5"]


def head_output(rows: list[tuple[float, float, float, float, int, float]], anchors: int = 50) -> np.ndarray:
    """A YOLO head output (1, 4 + classes, anchors) holding `rows` (cx, cy, w, h, class, score) in letterbox pixels."""
    output = np.zeros((1, 4 + len(NAMES), anchors), np.float32)
    for index, (cx, cy, w, h, cls, score) in enumerate(rows):
        output[0, :4, index] = (cx, cy, w, h)
        output[0, 4 + cls, index] = score
    return output


def test_letterbox_keeps_the_aspect_ratio_and_pads_grey() -> None:
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:, :, 2] = 255  # red in BGR
    blob, box = letterbox(frame, 160)
    assert blob.shape == (1, 3, 160, 160)
    assert blob.dtype == np.float32
    assert box == Letterbox(scale=0.5, pad_x=0, pad_y=20)
    assert blob[0, :, 10, 80] == pytest.approx([PAD_VALUE / 255] * 3)  # the band above the image
    assert blob[0, :, 80, 80] == pytest.approx([1.0, 0.0, 0.0])  # RGB, scaled to [0, 1]


@pytest.mark.parametrize("shape", [(1, 300), (300, 1), (1, 1)])
def test_letterbox_keeps_a_frame_one_pixel_thin(shape: tuple[int, int]) -> None:
    """A 1x300 upload scaled to 64 px would round to 0 rows (cv2 raised: a 500 the contract fuzzer found)."""
    blob, box = letterbox(np.full((*shape, 3), 255, np.uint8), 64)
    assert blob.shape == (1, 3, 64, 64)
    assert blob.max() == pytest.approx(1.0)  # the frame's row is in the canvas
    assert box.scale == pytest.approx(64 / max(shape))


def test_decode_maps_boxes_back_to_the_original_pixels() -> None:
    box = Letterbox(scale=0.5, pad_x=0, pad_y=20)
    output = head_output([(80, 80, 40, 20, 2, 0.9)])
    (found,) = decode(output, box, (240, 320), NAMES, conf=0.25)
    assert found.class_id == 2
    assert found.class_name == "3"
    assert found.confidence == pytest.approx(0.9)
    assert found.bbox == pytest.approx((120, 100, 200, 140))


def test_decode_drops_low_scores_and_clips_to_the_image() -> None:
    box = Letterbox(scale=1.0, pad_x=0, pad_y=0)
    output = head_output([(5, 5, 20, 20, 0, 0.8), (50, 50, 10, 10, 1, 0.1)])
    (found,) = decode(output, box, (64, 64), NAMES, conf=0.25)
    assert found.bbox == pytest.approx((0, 0, 15, 15))
    assert decode(output, box, (64, 64), NAMES, conf=0.95) == []


def test_decode_maps_a_pose_models_keypoints_back_with_its_box() -> None:
    box = Letterbox(scale=0.5, pad_x=0, pad_y=20)
    detector = head_output([(80, 80, 40, 20, 2, 0.9)])
    points = np.zeros((1, 21 * 3, detector.shape[2]), np.float32)
    points[0, 0::3, 0] = np.arange(21) + 60  # x of each landmark, letterbox pixels
    points[0, 1::3, 0] = 70  # y
    points[0, 2::3, 0] = 0.3  # visibility: not used to count
    (found,) = decode(np.concatenate([detector, points], axis=1), box, (240, 320), NAMES, conf=0.25)
    assert (found.class_id, found.bbox) == (2, pytest.approx((120, 100, 200, 140)))  # the classes end at 4 + 5
    assert found.keypoints is not None
    assert len(found.keypoints) == 21
    assert found.keypoints[0] == pytest.approx((120, 100))
    assert found.keypoints[20] == pytest.approx((160, 100))
    (plain,) = decode(detector, box, (240, 320), NAMES, conf=0.25)
    assert plain.keypoints is None


def test_one_hand_is_one_box_whatever_its_classes() -> None:
    """Class-agnostic NMS: a '3' box and a '4' box on the same hand count once, as the surer one."""
    box = Letterbox(scale=1.0, pad_x=0, pad_y=0)
    output = head_output([(50, 50, 40, 40, 2, 0.6), (51, 50, 40, 40, 3, 0.7), (150, 50, 40, 40, 0, 0.5)])
    found = decode(output, box, (200, 200), NAMES, conf=0.25)
    assert [d.class_name for d in found] == ["4", "1"]
    assert image_count(found) == 5


def reference_nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy NMS written out, highest score first."""
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    while order:
        best, order = order[0], order[1:]
        keep.append(int(best))
        x1 = np.maximum(boxes[best, 0], boxes[order, 0])
        y1 = np.maximum(boxes[best, 1], boxes[order, 1])
        x2 = np.minimum(boxes[best, 2], boxes[order, 2])
        y2 = np.minimum(boxes[best, 3], boxes[order, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        overlap = inter / (area[best] + area[order] - inter)
        order = [o for o, v in zip(order, overlap, strict=True) if v <= iou]
    return keep


@pytest.mark.parametrize("seed", range(5))
def test_nms_equals_greedy_nms(seed: int) -> None:
    rng = np.random.default_rng(seed)
    corners = rng.uniform(0, 100, (300, 2))
    boxes = np.hstack([corners, corners + rng.uniform(5, 40, (300, 2))])
    scores = rng.uniform(0, 1, 300)
    assert nms(boxes, scores, 0.7).tolist() == reference_nms(boxes, scores, 0.7)
    assert nms(np.empty((0, 4)), np.empty(0), 0.7).tolist() == []


def test_from_ultralytics_reads_a_real_results_object() -> None:
    import torch
    from ultralytics.engine.results import Results

    image = np.zeros((240, 320, 3), np.uint8)
    boxes = torch.tensor([[10.0, 20.0, 110.0, 140.0, 0.8, 4.0], [200.0, 30.0, 300.0, 200.0, 0.4, 1.0]])
    result = Results(image, path="x.jpg", names=dict(enumerate(NAMES)), boxes=boxes)
    found = from_ultralytics(result, NAMES)
    assert found == [
        Detection(4, "5", pytest.approx(0.8), pytest.approx((10, 20, 110, 140))),  # type: ignore[arg-type]
        Detection(1, "2", pytest.approx(0.4), pytest.approx((200, 30, 300, 200))),  # type: ignore[arg-type]
    ]
    assert image_count(found) == 7
    assert from_ultralytics(Results(image, path="x.jpg", names=dict(enumerate(NAMES))), NAMES) == []


def test_a_class_that_is_not_a_count_counts_zero() -> None:
    hands = [Detection(0, "thumbs-up", 0.9, (0, 0, 1, 1)), Detection(1, "finger-3", 0.9, (0, 0, 1, 1))]
    assert [h.fingers for h in hands] == [0, 3]
    assert image_count(hands) == 3
