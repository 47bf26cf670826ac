"""INT8 at registration: the package gets an NNCF-quantized OpenVINO model, each precision is
measured on the validation split, the version records them and its choice, and serving runs the
choice by default (or the precision asked for)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fingercount.registry import Registry
from fingercount.serving.model_manager import ModelManager
from fingercount.training.precision import choose
from fingercount.training.trainer import TrainEnvironment, train
from tests.workspace import Workspace, use_tracking_uri

pytestmark = pytest.mark.slow
MODEL = "yolov11-finger-counting"


def test_int8_is_measured_recorded_and_served(workspace: Workspace, tmp_path: Path) -> None:
    config = workspace.config()
    config = config.model_copy(update={"export": config.export.model_copy(update={"int8": True})})
    uri = f"sqlite:///{tmp_path / 'precision.db'}"  # its own store: the session's aliases stay put
    try:
        result = train(config, TrainEnvironment(uri, model_cache=tmp_path / "cache", progress=False))
    finally:
        use_tracking_uri(workspace.tracking_uri)
    assert result.package is not None
    assert "openvino_int8" in result.package.engine_files()
    metadata = Registry(uri, tmp_path / "cache").fetch(MODEL, str(result.model_version)).metadata
    assert {"f32", "int8"} <= set(metadata.precisions)
    assert all(set(m) == {"count_accuracy", "ms"} for m in metadata.precisions.values())
    assert metadata.precision == choose(metadata.precisions, config.export.tolerance)

    default = ModelManager(Registry(uri, tmp_path / "cache"))
    assert default.load(MODEL, version=result.model_version).precision == metadata.precision
    forced = ModelManager(Registry(uri, tmp_path / "cache"), openvino_precision="int8")
    assert forced.load(MODEL, version=result.model_version).precision == "int8"
    current = forced.current()
    assert current is not None
    assert current.info.as_dict()["precision"] == "int8"  # what /models/current shows
