"""The step protocol and the pipeline of steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Step(Protocol):
    """One transformation of a frame (BGR, BGRA or grayscale `uint8`); returns the new frame.

    A step that changes nothing returns the very same array, so callers can tell.
    """

    name: str

    def __call__(self, frame: np.ndarray) -> np.ndarray: ...


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
