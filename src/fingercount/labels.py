"""The label model: boxes, samples and datasets as sources deliver them.

It sits below both `data/` (sources, preparation) and `labeling/` (the teacher), so that either
can use it without importing the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Box:
    """One labelled box in YOLO's normalised centre format."""

    class_id: int
    cx: float
    cy: float
    w: float
    h: float


@dataclass(frozen=True)
class RawSample:
    """An image as a source delivers it; preparation decides whether it is usable."""

    image: Path
    name: str  # unique, stable name relative to the source (no directories)
    boxes: tuple[Box, ...] | None  # None: the image has no label at all
    problem: str | None = None  # a label the source could not parse
    problem_reason: str = "unreadable_label"  # the reason report.json lists it under
    # Frames of one video-like sequence: (sequence id, frame number). Neighbouring frames are
    # near-identical, so preparation keeps them in one split (see prepare.assign_splits).
    sequence: tuple[str, int] | None = None
    # A session or person (the source's `group` pattern): all its images go to one split.
    group: str | None = None


@dataclass
class RawDataset:
    class_names: list[str]
    samples: list[RawSample]
    description: dict[str, Any] = field(default_factory=dict)  # for lineage (source, version…)
    notes: list[str] = field(default_factory=list)  # one line each for the user (printed, in report.json)


_FRAME = re.compile(r"^(.*?)(\d+)$")


def sequence_of(name: str) -> tuple[str, int] | None:
    """`3__two_17.jpg` -> ("3__two_", 17): frames that differ only in a trailing number form a sequence."""
    match = _FRAME.match(Path(name).stem)
    return (match.group(1), int(match.group(2))) if match else None
