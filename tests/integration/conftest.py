"""A workspace with the repository's configs and a fresh embedded MLflow store."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fingercount.config import TrainingConfig, load_training_config
from fingercount.registry.connection import connect
from fingercount.training.trainer import TrainResult, train
from tests.conftest import CONFIGS


@dataclass
class Workspace:
    root: Path
    tracking_uri: str
    artifact_location: str

    def config(self, **training: object) -> TrainingConfig:
        config = load_training_config(self.root / "configs" / "test_config.yaml")
        if training:
            config = config.model_copy(update={"training": config.training.model_copy(update=training)})
        return config


def make_workspace(root: Path) -> Workspace:
    shutil.copytree(CONFIGS, root / "configs")
    uri = f"sqlite:///{root / 'mlruns.db'}"
    return Workspace(root, uri, (root / "mlartifacts").as_uri())


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """Shared by the training tests: cwd is the workspace (configs use relative paths)."""
    space = make_workspace(tmp_path_factory.mktemp("workspace"))
    previous = Path.cwd()
    os.chdir(space.root)
    connect(space.tracking_uri)
    try:
        yield space
    finally:
        os.chdir(previous)


@pytest.fixture(scope="session")
def first(workspace: Workspace) -> TrainResult:
    """The first training of the session: version 1, promoted to @staging."""
    return train(
        workspace.config(), workspace.tracking_uri, workspace.root / "configs/test_config.yaml",
        artifact_location=workspace.artifact_location, progress=False,
    )  # fmt: skip
