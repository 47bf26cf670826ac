"""The model manager's promises, without a server: atomic swaps, failed loads change nothing,
corrupt downloads are refused, predictions never wait for a load, follow mode tracks an alias."""

from __future__ import annotations

import threading

import pytest

from fingercount.errors import ModelLoadError, ModelNotFoundError
from fingercount.registry import Registry
from fingercount.serving.model_manager import AliasFollower, ModelInfo, ModelManager, warmup_frame
from tests.unit.serving.conftest import NAME


@pytest.fixture
def manager(tiny_registry: Registry) -> ModelManager:
    return ModelManager(tiny_registry, engine="onnx", threads=1)


def test_load_swaps_and_a_held_reference_keeps_its_model(tiny_registry: Registry) -> None:
    swapped: list[ModelInfo] = []
    manager = ModelManager(tiny_registry, engine="onnx", threads=1, on_swap=swapped.append)
    assert manager.current() is None
    manager.load(NAME, version="1")
    held = manager.current()  # what a request in flight holds
    assert held is not None
    info = manager.load(NAME, version="2")
    assert info.version == "2"
    assert info.engine == "onnx"
    assert info.count_conf == 0.01
    assert [i.version for i in swapped] == ["1", "2"]
    assert held.info.version == "1"
    held.predict(warmup_frame())  # the old model still answers for the request that holds it
    described = manager.describe()
    assert described is not None
    assert described["version"] == "2"
    assert described["requested"] == "version 2"


def test_a_failed_load_leaves_the_old_model_serving(manager: ModelManager) -> None:
    manager.load(NAME, version="1")
    with pytest.raises(ModelNotFoundError, match="has no version 99"):
        manager.load(NAME, version="99")
    manager.engine_preference = "openvino"  # this package has no OpenVINO export
    with pytest.raises(ModelLoadError, match="no openvino engine"):
        manager.load(NAME, version="2")
    current = manager.current()
    assert current is not None
    assert current.info.version == "1"
    assert manager.last_error == "no openvino engine: this version has ['onnx', 'pytorch']"


def test_a_corrupt_download_is_refused_then_fetched_afresh(manager: ModelManager, tiny_registry: Registry) -> None:
    manager.load(NAME, version="1")
    cached = tiny_registry.fetch(NAME, "2")
    (cached.exports / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(ModelLoadError, match="does not match its sha256"):
        manager.load(NAME, version="2")
    current = manager.current()
    assert current is not None
    assert current.info.version == "1"
    assert manager.load(NAME, version="2").version == "2"  # the bad copy was dropped and downloaded again


def test_predictions_never_wait_for_a_load(manager: ModelManager) -> None:
    manager.load(NAME, version="1")
    frame, answered, failures = warmup_frame(), [], []
    stop = threading.Event()

    def predict() -> None:
        while not stop.is_set():
            loaded = manager.current()
            try:
                assert loaded is not None
                loaded.predict(frame)
                answered.append(loaded.info.version)
            except Exception as exc:  # any failure is what this test looks for
                failures.append(exc)

    worker = threading.Thread(target=predict)
    worker.start()
    try:
        for version in ("2", "1", "2"):
            manager.load(NAME, version=version)
    finally:
        stop.set()
        worker.join()
    assert failures == []
    assert {"1", "2"} <= set(answered)


def test_follow_mode_loads_what_the_alias_points_to(manager: ModelManager, tiny_registry: Registry) -> None:
    tiny_registry.set_alias(NAME, "follow-test", "1")
    follower = AliasFollower(manager, NAME, "follow-test", interval=60)
    assert follower.check_once() is True
    assert follower.check_once() is False  # already serving it
    tiny_registry.set_alias(NAME, "follow-test", "2")
    assert follower.check_once() is True
    current = manager.current()
    assert current is not None
    assert current.info.version == "2"
    assert current.info.aliases == ("follow-test",)
