"""The interface every dataset source implements, and the name -> class registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol

from fingercount.errors import ConfigError
from fingercount.labels import RawDataset


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
