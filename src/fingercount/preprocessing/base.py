"""The step protocol, the name -> step registry and the pipeline built from configuration."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class Step(Protocol):
    """One transformation of a frame (BGR, BGRA or grayscale `uint8`); returns the new frame.

    A step that changes nothing returns the very same array, so callers can tell.
    """

    name: str

    def __call__(self, frame: np.ndarray) -> np.ndarray: ...


# name -> factory(**settings); a new step is one class plus one line here (see face_blur.py).
STEPS: dict[str, Callable[..., Step]] = {}


def register_step(name: str) -> Callable[[Callable[..., Step]], Callable[..., Step]]:
    def add(factory: Callable[..., Step]) -> Callable[..., Step]:
        STEPS[name] = factory
        return factory

    return add


@dataclass(frozen=True)
class Pipeline:
    steps: tuple[Step, ...] = ()

    @property
    def names(self) -> list[str]:
        return [step.name for step in self.steps]

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        for step in self.steps:
            frame = step(frame)
        return frame

    def __bool__(self) -> bool:
        return bool(self.steps)


def build_pipeline(config: Sequence[tuple[str, dict[str, Any]]]) -> Pipeline:
    """Steps in order from (name, settings) pairs; unknown names are a clear error."""
    from fingercount.errors import ConfigError
    from fingercount.preprocessing import face_blur  # noqa: F401  (registers its step)

    steps = []
    for name, settings in config:
        if name not in STEPS:
            raise ConfigError(f"unknown preprocessing step {name!r}; choose one of {', '.join(sorted(STEPS))}")
        steps.append(STEPS[name](**settings))
    return Pipeline(tuple(steps))
