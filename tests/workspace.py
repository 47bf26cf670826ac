"""Fixtures: a workspace with the repository's configs, a fresh embedded MLflow store, trained
versions, and a real uvicorn server."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from fingercount.config import TrainingConfig, load_training_config
from fingercount.processes import free_port, wait_until
from fingercount.registry import Registry
from fingercount.settings import Settings
from fingercount.training.trainer import TrainEnvironment, TrainResult, train
from tests.conftest import CONFIGS


@dataclass
class Workspace:
    root: Path
    tracking_uri: str
    artifact_location: str

    def env(self) -> TrainEnvironment:
        return TrainEnvironment(
            self.tracking_uri, self.artifact_location, model_cache=self.root / "model-cache", progress=False
        )

    def registry(self) -> Registry:
        return Registry(self.tracking_uri, self.root / "model-cache")

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
    use_tracking_uri(space.tracking_uri)
    try:
        yield space
    finally:
        os.chdir(previous)


@pytest.fixture(scope="session")
def first(workspace: Workspace) -> TrainResult:
    """The first training of the session: version 1, promoted to @staging."""
    return train(workspace.config(), workspace.env(), config_path=workspace.root / "configs/test_config.yaml")


@pytest.fixture(scope="session")
def second(workspace: Workspace, first: TrainResult) -> TrainResult:
    """A second training (another lr0): version 2 of the same model."""
    config = workspace.config(lr0=0.02)
    return train(config, workspace.env())


@contextmanager
def running_server(settings: Settings, load_default: bool = True) -> Iterator[str]:
    """A real uvicorn server on a free loopback port, in a thread; yields its base URL."""
    import threading
    import time

    import uvicorn

    from fingercount.serving.app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, load_default=load_default), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def serving_settings(workspace: Workspace, cache: Path, **env: str) -> Settings:
    values = {
        "MLFLOW_TRACKING_URI": workspace.tracking_uri,
        "MODEL_NAME": "yolov11-finger-counting",
        "MODEL_CACHE_DIR": str(cache),
        "ENGINE_THREADS": "2",
        **env,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.2) -> None:
    try:
        wait_until(predicate, "the condition", timeout, interval)
    except RuntimeError as exc:
        raise AssertionError(str(exc)) from None


def use_tracking_uri(uri: str) -> None:
    """Point the tests' own `MlflowClient()` calls at `uri` (the platform passes URIs explicitly)."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


@contextmanager
def teach_server(workspace: Workspace, version: str, alias: str, root: Path, **env: str) -> Iterator[str]:
    """A server serving `version` under `alias`, with its own collections and the tiny teach config."""
    import httpx

    workspace.registry().set_alias("yolov11-finger-counting", alias, version)
    settings = serving_settings(
        workspace, root / "cache", MODEL_ALIAS=alias, COLLECTIONS_DIR=str(root / "collections"),
        TEACH_CONFIG="configs/teach_test_config.yaml", **env,
    )  # fmt: skip
    with running_server(settings) as base:
        wait_for(lambda: httpx.get(f"{base}/health").json()["model_loaded"], timeout=120)
        yield base


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002  (the base class's name)
        pass


@contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """`folder` over HTTP on a free loopback port (a mirror, another origin's pages); yields its URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
