"""Class name -> finger count: the one mapping that serving, evaluation and the UI share."""

from __future__ import annotations

import re

_WORDS = {"zero": 0, "fist": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
# Words that say what is counted, not how many: "3_fingers", "finger-3", "0-hand", "hand_two".
_NOUNS = {"finger", "fingers", "hand", "hands"}
_TOKEN = re.compile(r"[a-z]+|\d+")


def finger_count(class_name: str) -> int | None:
    """Fingers shown by a hand of this class, or None if the name says no count.

    Understood: digits ("3"), words ("three", "zero", "fist"), either with "finger(s)" or "hand(s)"
    before or after ("finger-3", "3_fingers", "0-hand", "five fingers"); counts 0 to 5.
    """
    tokens = [token for token in _TOKEN.findall(class_name.strip().lower()) if token not in _NOUNS]
    if len(tokens) != 1:
        return None
    (token,) = tokens
    value = int(token) if token.isdigit() else _WORDS.get(token)
    return value if value is not None and 0 <= value <= 5 else None
