"""Dataset sources behind one interface; `get_source(name)` looks one up by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fingercount.data.sources.base import SOURCES, Box, DatasetSource, RawDataset, RawSample, get_source

# Importing the modules registers their sources.
from fingercount.data.sources import local, picsellia, synthetic  # noqa: E402,F401  isort: skip

if TYPE_CHECKING:
    from fingercount.config import DataConfig

__all__ = ["source_from_config", "SOURCES", "Box", "DatasetSource", "RawDataset", "RawSample", "get_source"]


def source_from_config(config: DataConfig) -> DatasetSource:
    """The configured source, looked up by name, with its settings from `configs/config.yaml`."""
    source = config.source
    settings = {
        "synthetic": {"cache_dir": config.raw_dir, **source.synthetic.model_dump()},
        "local": source.local.model_dump() if source.local else {},
        "picsellia": source.picsellia.model_dump(),
    }
    return get_source(source.type)(**settings[source.type])
