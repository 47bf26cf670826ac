"""The finger rule on hand-built landmark sets: a palm facing the camera, fingers up or folded."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fingercount.labeling.fingers import count_raised, count_raised_in_image, raised_fingers

# Knuckle x positions of index..pinky (index on +x, the thumb's side); the palm runs up +y.
_KNUCKLES_X = (0.03, 0.01, -0.01, -0.03)


def hand(thumb: bool, index: bool, middle: bool, ring: bool, pinky: bool) -> np.ndarray:
    """21 world landmarks (metres) of a right hand, palm to the camera, wrist at the origin."""
    points = np.zeros((21, 3))
    # Thumb: base joints beside the palm; raised it points out (+x) and up, folded it lies across the palm.
    points[1] = (0.025, 0.02, 0)
    points[2] = (0.04, 0.035, 0)
    if thumb:
        points[3], points[4] = (0.06, 0.05, 0), (0.08, 0.065, 0)
    else:
        points[3], points[4] = (0.03, 0.05, -0.01), (0.01, 0.055, -0.02)
    for finger, (x, up) in enumerate(zip(_KNUCKLES_X, (index, middle, ring, pinky), strict=True)):
        base = 5 + 4 * finger
        points[base] = (x, 0.08, 0)
        if up:
            points[base + 1 : base + 4] = [(x, 0.11, 0), (x, 0.13, 0), (x, 0.15, 0)]
        else:  # curled into the palm: the outer part points back towards the wrist
            points[base + 1 : base + 4] = [(x, 0.095, -0.02), (x, 0.08, -0.03), (x, 0.065, -0.02)]
    return points


@pytest.mark.parametrize("fingers", list(itertools.product([False, True], repeat=5)))
def test_every_combination_of_raised_fingers(fingers: tuple[bool, ...]) -> None:
    points = hand(*fingers)
    assert raised_fingers(points) == fingers
    assert count_raised(points) == sum(fingers)


def test_rule_ignores_scale_rotation_and_mirroring() -> None:
    points = hand(True, True, False, False, True)
    angle = np.radians(35)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    left_hand = points * np.array([-1, 1, 1])
    for variant in (points * 2.5, points @ rotation.T, left_hand, points + 0.3):
        assert raised_fingers(variant) == (True, True, False, False, True)


def test_a_fist_counts_zero_not_nothing() -> None:
    assert count_raised(hand(False, False, False, False, False)) == 0


def test_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="21 landmarks"):
        raised_fingers(np.zeros((20, 3)))


FRONT = [(True,) * 5, (False,) * 5, (False, True, True, False, False), (True, True, False, False, True)]


@pytest.mark.parametrize("fingers", FRONT)
def test_the_rule_in_the_image_plane_counts_a_hand_seen_from_the_front(fingers: tuple[bool, ...]) -> None:
    pixels = hand(*fingers)[:, :2] * np.array([2000, -2000]) + (320, 400)  # metres to pixels, y down
    assert count_raised_in_image(pixels) == sum(fingers)
    with pytest.raises(ValueError, match="x, y"):
        count_raised_in_image(hand(*fingers))
