"""Dataset sources behind one interface; `get_source(name)` looks one up by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fingercount.data.sources.base import SOURCES, DatasetSource, get_source

# Importing the modules registers their sources.
from fingercount.data.sources import folders, local, picsellia, synthetic  # noqa: F401  isort: skip

if TYPE_CHECKING:
    from pathlib import Path

    from fingercount.config import DataConfig, SourceConfig

__all__ = ["SOURCES", "DatasetSource", "get_source", "source_from_config"]


def source_from_config(config: DataConfig) -> DatasetSource:
    """The configured source(s), looked up by name, with their settings from `configs/config.yaml`."""
    if not config.extra_sources:
        return _one_source(config.source, config.raw_dir)
    from fingercount.data.sources.combined import CombinedSource

    sources = (config.source, *config.extra_sources)
    return CombinedSource({source.label: _one_source(source, config.raw_dir) for source in sources})


def _one_source(source: SourceConfig, raw_dir: Path) -> DatasetSource:
    settings = {
        "synthetic": {"cache_dir": raw_dir, **source.synthetic.model_dump()},
        "local": source.local.model_dump() if source.local else {},
        "picsellia": source.picsellia.model_dump(),
        "folders": {"cache_dir": raw_dir, **source.folders.model_dump()} if source.folders else {},
    }
    from fingercount.data.sources.classes import CountedSource

    return CountedSource(
        get_source(source.type)(**settings[source.type]),
        dict(source.class_map),
        source.group,
        source.verify,
        source.on_disagree,
        raw_dir,
        source.disagree_by,
    )
