"""Preprocessing steps over BGR frames, shared by data preparation and serving."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fingercount.errors import ConfigError
from fingercount.preprocessing.base import Pipeline, Step
from fingercount.preprocessing.face_blur import FaceBlur

# name -> factory(**settings), as named in configs; a new step is one class plus one line here.
STEPS: dict[str, Callable[..., Step]] = {"face_blur": FaceBlur}


def build_pipeline(config: Sequence[tuple[str, dict[str, Any]]]) -> Pipeline:
    """Steps in order from (name, settings) pairs; unknown names are a clear error."""
    steps = []
    for name, settings in config:
        if name not in STEPS:
            raise ConfigError(f"unknown preprocessing step {name!r}; choose one of {', '.join(sorted(STEPS))}")
        steps.append(STEPS[name](**settings))
    return Pipeline(tuple(steps))


__all__ = ["STEPS", "Pipeline", "Step", "build_pipeline"]
