"""Class name -> finger count: the one mapping that serving, evaluation and the UI share."""

from __future__ import annotations

import re

_COUNT_PATTERNS = (
    re.compile(r"^(\d)$"),
    re.compile(r"^fingers?[-_ ]?(\d)$"),
    re.compile(r"^(\d)[-_ ]?fingers?$"),
)


def finger_count(class_name: str) -> int | None:
    """Fingers shown by a hand of this class ("3", "finger-3", "3_fingers"), or None if unknown."""
    name = class_name.strip().lower()
    for pattern in _COUNT_PATTERNS:
        match = pattern.match(name)
        if match:
            value = int(match.group(1))
            return value if 0 <= value <= 5 else None
    return None
