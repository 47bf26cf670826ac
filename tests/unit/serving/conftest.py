"""A real registry (embedded SQLite) holding two versions of a tiny, untrained model package."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from fingercount.registry import ModelMetadata, ModelPackage, Registry

NAME = "tiny"


T = TypeVar("T")


def run_async(scenario: Coroutine[Any, Any, T]) -> T:
    """In a thread of its own: Playwright's sync API (the e2e tests) may hold an event loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, scenario).result()


@pytest.fixture(scope="session")
def tiny_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """Versions 1 and 2 of `tiny`: untrained yolo11n at 64 px with an ONNX export (seconds, not a training)."""
    import mlflow
    from ultralytics import YOLO

    from fingercount.training import tracking

    root = tmp_path_factory.mktemp("tiny-registry")
    registry = Registry(f"sqlite:///{root / 'mlruns.db'}", root / "cache")
    weights = root / "best.pt"
    YOLO("yolo11n.yaml").save(weights)
    names = YOLO(str(weights), task="detect").names
    onnx = Path(YOLO(str(weights), task="detect").export(format="onnx", imgsz=64, simplify=False, verbose=False))
    previous = mlflow.get_tracking_uri()
    try:
        for number in (1, 2):
            with tracking.tracked_run(registry.uri, "unit", f"tiny-{number}", {}, (root / "artifacts").as_uri()) as run:
                metadata = ModelMetadata(
                    class_names=[str(names[i]) for i in sorted(names)],
                    imgsz=64,
                    count_conf=0.01,
                    run_id=run.info.run_id,
                )
                package = ModelPackage.create(root / f"package-{number}", weights, metadata)
                shutil.copy(onnx, package.exports / "model.onnx")
                registry.register(NAME, package, run.info.run_id)
    finally:
        mlflow.set_tracking_uri(previous)
    return registry
