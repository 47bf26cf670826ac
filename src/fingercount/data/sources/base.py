"""The interface every dataset source implements, and the name -> class registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from fingercount.errors import ConfigError


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


class DatasetSource(Protocol):
    name: ClassVar[str]

    def load(self, progress: bool = True) -> RawDataset: ...


SOURCES: dict[str, type[DatasetSource]] = {}


def register_source(cls: type[DatasetSource]) -> type[DatasetSource]:
    SOURCES[cls.name] = cls
    return cls


def get_source(name: str) -> Callable[..., DatasetSource]:
    try:
        return SOURCES[name]
    except KeyError:
        raise ConfigError(f"unknown dataset source {name!r}; choose one of {', '.join(sorted(SOURCES))}") from None
