"""Count heads are pure functions of a run's box records: each head, and where its rule is chosen."""

from __future__ import annotations

import pytest

from fingercount.training.campaign import heads, result_heads
from fingercount.training.count_heads import choose_sure, photo_totals

# Per photo: boxes of (class count, confidence, landmark count or None).
RECORDS = [
    [(2, 0.9, 3)],  # sure box: the class says 2, landmarks 3
    [(1, 0.4, 4), (0, 0.1, 5)],  # unsure box; the second is under the count threshold
    [(5, 0.5, None)],  # the landmark model finds no hand in the crop: the class stands
    [(3, 0.2, 3)],  # only a box under the threshold: no hand found
    [],  # nothing at all
]
WHOLE = [3, 2, -1, 1, 0]  # the landmark model on each whole photo


@pytest.mark.parametrize(
    ("head", "sure", "expected"),
    [
        ("classes", 1.0, [2, 1, 5, -1, -1]),
        ("landmarks", 1.0, [3, 4, 5, -1, -1]),
        ("arbitrated", 0.8, [2, 4, 5, -1, -1]),  # the sure box keeps its class
        ("landmarks+photo", 1.0, [3, 4, 5, 1, 0]),  # no box kept: the whole photo's landmark count
        ("photo+landmarks", 1.0, [3, 2, 5, 1, 0]),  # the whole photo first; its miss: the boxes' landmarks
        ("sure+photo", 0.8, [2, 2, 5, 1, 0]),  # sure of every kept box: its class; else as photo+landmarks
    ],
)
def test_each_head_counts_the_kept_boxes_its_own_way(head: str, sure: float, expected: list[int]) -> None:
    assert photo_totals(RECORDS, 0.3, head, sure, WHOLE) == expected  # type: ignore[arg-type]


def test_sure_photo_keeps_the_class_only_where_the_detector_is_sure_of_every_hand() -> None:
    two_hands = [[(2, 0.9, 3), (1, 0.5, 4)]]  # one sure box, one unsure
    assert photo_totals(two_hands, 0.3, "sure+photo", 0.8, [5]) == [5]  # unsure of one: the whole photo
    assert photo_totals(two_hands, 0.3, "sure+photo", 0.4, [5]) == [3]  # sure of both: the classes
    # The landmark model finds no hand in the photo: the sure box keeps its class, the unsure one its crop's count.
    assert photo_totals(two_hands, 0.3, "sure+photo", 0.8, [-1]) == [2 + 4]


@pytest.mark.parametrize("head", ["landmarks+photo", "photo+landmarks", "sure+photo"])
def test_a_whole_photo_head_refuses_to_guess_without_the_whole_photo_counts(head: str) -> None:
    with pytest.raises(ValueError, match="whole photo"):
        photo_totals(RECORDS, 0.3, head)


def test_the_arbitrated_threshold_is_the_one_that_counts_most_photos_right() -> None:
    # Class right on the sure box (0.9), landmarks right on the unsure one (0.4): any threshold in
    # (0.4, 0.9] gets both; ties go to the higher (leaning on the detector's own class).
    records = [[(2, 0.9, 3)], [(1, 0.4, 4)]]
    sure = choose_sure(records, [2, 4], 0.3)  # type: ignore[arg-type]
    assert 0.4 < sure <= 0.9


def test_heads_choose_their_rule_on_the_other_sources_never_on_the_left_out_one() -> None:
    boxes = {
        # On the other source's val photos the class is right when sure: arbitration keeps it.
        "val/other": {"a.jpg": (2, [(2, 0.9, 3)]), "b.jpg": (4, [(1, 0.4, 4)])},
        # On the left-out source the landmarks are right even on sure boxes.
        "left_out": {"c.jpg": (3, [(2, 0.9, 3)]), "d.jpg": (1, [])},
    }
    counted = heads(boxes, {"c.jpg": 3, "d.jpg": 1}, 0.3)
    assert 0.4 < counted["arbitrated"]["sure"] <= 0.9  # chosen on val/other ...
    assert counted["arbitrated"]["accuracy"] == 0.0  # ... so it keeps the wrong class here
    assert counted["landmarks"]["accuracy"] == 0.5
    assert counted["landmarks+photo"]["accuracy"] == 1.0
    assert counted["landmarks+photo"]["no_hand"] == 0.0
    assert counted["photo+landmarks"]["accuracy"] == 1.0
    assert counted["sure+photo"]["sure"] == counted["arbitrated"]["sure"]  # the same rule, chosen once
    assert counted["sure+photo"]["accuracy"] == 0.5  # the sure box's wrong class; the whole photo of d.jpg


def test_a_result_without_whole_photo_counts_is_judged_on_the_heads_it_can() -> None:
    found = {"boxes": {"left_out": {"c.jpg": [3, [[2, 0.9, 3]]]}}, "count_conf": 0.3}
    assert set(result_heads(found)) == {"classes", "landmarks", "arbitrated"}
    assert set(result_heads({**found, "teacher_photos": {"c.jpg": 3}})) >= {
        "landmarks+photo",
        "photo+landmarks",
        "sure+photo",
    }


def test_a_pose_models_keypoint_head_is_judged_where_every_box_has_its_keypoint_count() -> None:
    boxes = {
        "val/other": {"a.jpg": (2, [(2, 0.9, 3, 2)])},
        "left_out": {"c.jpg": (3, [(2, 0.9, 1, 3)]), "d.jpg": (1, [(1, 0.8, None, 4)]), "e.jpg": (2, [])},
    }
    counted = heads(boxes, {}, 0.3)
    assert counted["keypoints"]["accuracy"] == pytest.approx(1 / 3)  # 3 right; 4 for 1; no hand for 2
    assert counted["classes"]["accuracy"] == pytest.approx(1 / 3)
    assert "keypoints" not in heads({**boxes, "left_out": {"c.jpg": (3, [(2, 0.9, 1)])}}, {}, 0.3)  # a detector
    assert "keypoints" not in heads({**boxes, "left_out": {"e.jpg": (2, [])}}, {}, 0.3)  # no box to judge
