from __future__ import annotations

import pytest

from fingercount.counting import finger_count


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("3", 3),
        ("finger-3", 3),
        ("3_fingers", 3),
        ("fingers_5", 5),
        ("0", 0),
        (" 4 ", 4),
        ("hand", None),
        ("7", None),
        ("three", 3),
        ("zero", 0),
        ("fist", 0),
        ("0-hand", 0),
        ("hand_2", 2),
        ("Five Fingers", 5),
        ("finger3", 3),
        ("thumbs_up", None),
        ("six", None),
        ("1 2", None),
    ],
)
def test_finger_count(name: str, expected: int | None) -> None:
    assert finger_count(name) == expected
