"""The generator's labels must be exactly what it drew."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from fingercount.data import synthetic
from fingercount.data.sources.local import read_yolo_folder


def count_fingers_in_mask(hand: synthetic.RenderedHand) -> int:
    """Count fingers from pixels alone: runs of hand pixels on a circle around the palm."""
    spec = hand.spec
    radius = synthetic.COUNTING_RADIUS * spec.palm_radius
    angles = np.linspace(0, 2 * math.pi, 720, endpoint=False)
    xs = np.round(spec.center[0] + radius * np.cos(angles)).astype(int)
    ys = np.round(spec.center[1] + radius * np.sin(angles)).astype(int)
    inside = (xs >= 0) & (ys >= 0) & (xs < hand.mask.shape[1]) & (ys < hand.mask.shape[0])
    on = np.zeros(len(angles), dtype=bool)
    on[inside] = hand.mask[ys[inside], xs[inside]] > 127
    return int(np.sum(on & ~np.roll(on, 1)))  # rising edges = separate fingers


@pytest.mark.parametrize("index", range(40))
def test_class_equals_fingers_drawn_and_box_is_tight(index: int) -> None:
    image = synthetic.render(seed=7, index=index, size=320, max_hands=3, include_fist=True)
    assert 1 <= len(image.hands) <= 3
    for hand in image.hands:
        assert count_fingers_in_mask(hand) == hand.spec.count
        ys, xs = np.nonzero(hand.mask)
        x1, y1, x2, y2 = hand.bbox
        # The box encloses every pixel of the hand, within a pixel on each side.
        assert abs(xs.min() - x1) <= 1
        assert abs(ys.min() - y1) <= 1
        assert abs(xs.max() + 1 - x2) <= 1
        assert abs(ys.max() + 1 - y2) <= 1


def test_hands_do_not_overlap() -> None:
    for index in range(30):
        hands = synthetic.render(seed=1, index=index, size=256, max_hands=4).hands
        total = np.zeros_like(hands[0].mask, dtype=np.int32)
        for hand in hands:
            total += hand.mask > 0
        assert total.max() <= 1


def test_deterministic_by_seed() -> None:
    a = synthetic.render(seed=5, index=3)
    b = synthetic.render(seed=5, index=3)
    c = synthetic.render(seed=6, index=3)
    assert np.array_equal(a.image, b.image)
    assert a.yolo_lines(1) == b.yolo_lines(1)
    assert not np.array_equal(a.image, c.image)


def test_counts_are_independent_of_hand_size_and_tone() -> None:
    """Honesty: no shortcut from palm size or skin tone to the class."""
    sizes: dict[int, list[float]] = {n: [] for n in range(1, 6)}
    tones: dict[int, list[float]] = {n: [] for n in range(1, 6)}
    for index in range(400):
        for hand in synthetic.render(seed=11, index=index, size=256).hands:
            sizes[hand.spec.count].append(hand.spec.palm_radius)
            tones[hand.spec.count].append(float(np.mean(hand.spec.skin_bgr)))
    mean_sizes = [np.mean(v) for v in sizes.values()]
    mean_tones = [np.mean(v) for v in tones.values()]
    assert max(mean_sizes) / min(mean_sizes) < 1.1
    assert max(mean_tones) - min(mean_tones) < 15


def test_written_folder_labels_match_render(synthetic_folder: Path) -> None:
    dataset = read_yolo_folder(synthetic_folder)
    assert dataset.class_names == ["1", "2", "3", "4", "5"]
    assert len(dataset.samples) == 30
    first = sorted(dataset.samples, key=lambda s: s.name)[0]
    rendered = synthetic.render(seed=3, index=0, size=128)
    assert first.boxes is not None
    assert [b.class_id + 1 for b in first.boxes] == [h.spec.count for h in rendered.hands]
    decoded = cv2.imread(str(first.image))
    assert decoded.shape == (128, 128, 3)
