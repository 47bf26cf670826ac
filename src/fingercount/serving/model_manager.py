"""The model lifecycle in serving: fetch (from the registry) → build the engine → warm up → swap.

Triton's promise: everything slow happens off the request path and outside the swap; the swap
is one reference assignment; a failed load leaves the old model serving; a request keeps the
model it started with because it holds its own reference.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from fingercount.errors import FingercountError, ModelLoadError, TrackingUnavailableError
from fingercount.inference import Detection, Engine
from fingercount.registry.client import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    aliases: tuple[str, ...]
    engine: str
    imgsz: int
    precision: str
    count_conf: float
    count_head: str
    class_names: tuple[str, ...]
    architecture: str
    metrics: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None
    stage: str | None = None  # the version's legacy stage, as the registry says it
    loaded_at: float = 0.0
    requested: str = ""  # what the load asked for: "version 3", "alias production", …
    inference_ms: float = 0.0  # measured at warm-up on the warm-up frame (sizes the admission queue)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LoadedModel:
    info: ModelInfo
    engine: Engine

    def predict(self, frame: np.ndarray, conf: float | None = None) -> list[Detection]:
        return self.engine.predict(frame, self.info.count_conf if conf is None else conf)


def warmup_frame() -> np.ndarray:
    """A known image with hands: the first real request should not pay for lazy initialisation."""
    from fingercount.data.synthetic import render

    return render(seed=0, index=0, size=320).image


class ModelManager:
    def __init__(
        self,
        registry: Registry,
        engine: str = "auto",
        threads: int = 2,
        openvino_precision: str = "package",
        on_swap: Callable[[ModelInfo], None] | None = None,
    ) -> None:
        self.registry = registry
        self.engine_preference = engine
        self.threads = threads
        self.openvino_precision = openvino_precision
        self._current: LoadedModel | None = None
        self._load_lock = threading.Lock()  # one load at a time; predictions never take it
        self._on_swap = on_swap
        self.last_error: str | None = None

    def current(self) -> LoadedModel | None:
        return self._current

    def describe(self) -> dict[str, Any] | None:
        loaded = self._current
        return None if loaded is None else loaded.info.as_dict()

    def load(
        self, name: str, version: str | None = None, alias: str | None = None, stage: str | None = None
    ) -> ModelInfo:
        """Load a registered version and swap it in; on any failure the old model keeps serving."""
        requested = f"version {version}" if version else f"alias {alias}" if alias else f"stage {stage}"
        with self._load_lock:
            try:
                found = self.registry.resolve(name, version=version, alias=alias, stage=stage)
                loaded = self._build(name, found, requested)
            except FingercountError as exc:
                self.last_error = str(exc)
                raise
            except Exception as exc:  # the registry client raises its own types when the server is down
                self.last_error = f"the model registry failed: {str(exc).strip().splitlines()[0][:300]}"
                raise TrackingUnavailableError(self.last_error) from exc
            self._current = loaded  # the swap: one reference assignment
            self.last_error = None
        log.info("serving %s version %s on %s", name, loaded.info.version, loaded.info.engine)
        if self._on_swap is not None:
            self._on_swap(loaded.info)
        return loaded.info

    def _build(self, name: str, found: Any, requested: str) -> LoadedModel:
        version, aliases = str(found.version), sorted(found.aliases or [])
        package = self.registry.fetch(name, version, found)
        metadata = package.metadata
        engine = package.served_engine(self.engine_preference, self.threads, self.openvino_precision)
        info = ModelInfo(
            name=name, version=version, aliases=tuple(aliases), engine=engine.name, precision=engine.precision,
            imgsz=metadata.imgsz,
            count_conf=metadata.count_conf, count_head=metadata.count_head, class_names=tuple(metadata.class_names),
            architecture=metadata.architecture, metrics=dict(metadata.metrics),
            run_id=metadata.run_id, stage=getattr(found, "current_stage", None), loaded_at=time.time(),
            requested=requested,
        )  # fmt: skip
        loaded = LoadedModel(info, engine)
        frame = warmup_frame()
        try:
            loaded.predict(frame)  # the first call pays for lazy initialisation
            times = []
            for _ in range(3):
                started = time.perf_counter()
                loaded.predict(frame)
                times.append(time.perf_counter() - started)
        except Exception as exc:  # a model that cannot answer must never be swapped in
            raise ModelLoadError(f"warm-up inference failed: {exc}") from exc
        return LoadedModel(replace(info, inference_ms=round(sorted(times)[1] * 1000, 2)), engine)


class AliasFollower:
    """Follow mode: poll an alias and load the version it points to whenever it moves."""

    def __init__(self, manager: ModelManager, name: str, alias: str, interval: float) -> None:
        self.manager, self.name, self.alias, self.interval = manager, name, alias, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alias-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)

    def check_once(self) -> bool:
        """Load the alias's version if it differs from the one serving; True if it swapped."""
        target = str(self.manager.registry.resolve(self.name, alias=self.alias).version)
        current = self.manager.current()
        if current is not None and current.info.name == self.name and current.info.version == target:
            return False
        self.manager.load(self.name, alias=self.alias)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check_once()
            except FingercountError as exc:
                log.warning("follow %s@%s: %s", self.name, self.alias, exc)
            except Exception:  # the follower must survive anything the registry throws
                log.exception("follow %s@%s failed", self.name, self.alias)
