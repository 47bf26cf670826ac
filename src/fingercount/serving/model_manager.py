"""The model lifecycle: resolve → download (cached per version) → verify → build → warm up → swap.

Triton's promise: everything slow happens off the request path and outside the swap; the swap
is one reference assignment; a failed load leaves the old model serving; a request keeps the
model it started with because it holds its own reference.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fingercount.errors import FingercountError, ModelLoadError, TrackingUnavailableError
from fingercount.serving.detections import Detection
from fingercount.serving.engines import Engine, build_engine

log = logging.getLogger(__name__)
_COMPLETE = ".complete"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    aliases: tuple[str, ...]
    engine: str
    imgsz: int
    count_conf: float
    class_names: tuple[str, ...]
    architecture: str
    metrics: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None
    loaded_at: float = 0.0
    requested: str = ""  # what the load asked for: "version 3", "alias production", …

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LoadedModel:
    info: ModelInfo
    engine: Engine

    def predict(self, frame: np.ndarray, conf: float | None = None) -> list[Detection]:
        return self.engine.predict(frame, self.info.count_conf if conf is None else conf)


def verify_checksums(model_dir: Path, metadata: dict[str, Any]) -> None:
    artifacts = model_dir / "artifacts"
    expected: dict[str, str] = metadata.get("sha256", {})
    if not expected:
        raise ModelLoadError("metadata.json lists no checksums; re-register the model")
    for relative, digest in expected.items():
        path = artifacts / relative
        if not path.is_file():
            raise ModelLoadError(f"artifact {relative} is missing from the model version")
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise ModelLoadError(f"artifact {relative} does not match its sha256 (corrupt download or tampering)")


def warmup_frame() -> np.ndarray:
    """A known image with hands: the first real request should not pay for lazy initialisation."""
    from fingercount.data.synthetic import render

    return render(seed=0, index=0, size=320).image


class ModelManager:
    def __init__(
        self,
        tracking_uri: str,
        cache_dir: Path,
        engine: str = "auto",
        threads: int = 2,
        openvino_precision: str = "f32",
        on_swap: Callable[[ModelInfo], None] | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri  # per manager, not MLflow's process-wide URI
        self.cache_dir = cache_dir
        self.engine_preference = engine
        self.threads = threads
        self.openvino_precision = openvino_precision
        self._current: LoadedModel | None = None
        self._load_lock = threading.Lock()  # one load at a time; predictions never take it
        self._on_swap = on_swap
        self.last_error: str | None = None
        self.swaps = 0

    def current(self) -> LoadedModel | None:
        return self._current

    def describe(self) -> dict[str, Any] | None:
        loaded = self._current
        return None if loaded is None else loaded.info.as_dict()

    def load(
        self, name: str, version: str | None = None, alias: str | None = None, stage: str | None = None
    ) -> ModelInfo:
        """Load a registered version and swap it in; on any failure the old model keeps serving."""
        from fingercount.registry.versions import resolve_version

        requested = f"version {version}" if version else f"alias {alias}" if alias else f"stage {stage}"
        with self._load_lock:
            try:
                found = resolve_version(name, version=version, alias=alias, stage=stage, uri=self.tracking_uri)
                loaded = self._build(name, str(found.version), found.run_id, sorted(found.aliases or []), requested)
            except FingercountError as exc:
                self.last_error = str(exc)
                raise
            except Exception as exc:  # the registry client raises its own types when the server is down
                self.last_error = f"the model registry failed: {str(exc).strip().splitlines()[0][:300]}"
                raise TrackingUnavailableError(self.last_error) from exc
            self._current = loaded  # the swap: one reference assignment
            self.swaps += 1
            self.last_error = None
        log.info("serving %s version %s on %s", name, loaded.info.version, loaded.info.engine)
        if self._on_swap is not None:
            self._on_swap(loaded.info)
        return loaded.info

    def _build(self, name: str, version: str, run_id: str | None, aliases: list[str], requested: str) -> LoadedModel:
        model_dir = self._download(name, version)
        metadata = json.loads((model_dir / "artifacts" / "metadata.json").read_text())
        if run_id and metadata.get("run_id") not in (None, run_id):  # a stale copy of another version 1
            shutil.rmtree(model_dir, ignore_errors=True)
            model_dir = self._download(name, version)
            metadata = json.loads((model_dir / "artifacts" / "metadata.json").read_text())
        try:
            verify_checksums(model_dir, metadata)
        except ModelLoadError:
            shutil.rmtree(model_dir, ignore_errors=True)  # the next load downloads it afresh
            raise
        names = [str(n) for n in metadata["class_names"]]
        engine = build_engine(
            model_dir, int(metadata["imgsz"]), names, self.engine_preference, self.threads, self.openvino_precision
        )
        info = ModelInfo(
            name=name, version=version, aliases=tuple(aliases), engine=engine.name, imgsz=int(metadata["imgsz"]),
            count_conf=float(metadata["count_conf"]), class_names=tuple(names),
            architecture=str(metadata.get("architecture", "?")), metrics=dict(metadata.get("metrics", {})),
            run_id=metadata.get("run_id"), loaded_at=time.time(), requested=requested,
        )  # fmt: skip
        loaded = LoadedModel(info, engine)
        try:
            loaded.predict(warmup_frame())
        except Exception as exc:  # a model that cannot answer must never be swapped in
            raise ModelLoadError(f"warm-up inference failed: {exc}") from exc
        return loaded

    def _download(self, name: str, version: str) -> Path:
        """The version's model directory, downloaded once per version (checked by a marker)."""
        import mlflow

        # Keyed by registry too: "version 1" of the same name differs from one store to another.
        registry = hashlib.sha256(self.tracking_uri.encode()).hexdigest()[:12]
        target = self.cache_dir / registry / name / version
        if (target / _COMPLETE).is_file():
            return target
        partial = target.with_name(f"{version}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            # Resolve the version with our own client: MLflow resolves `models:/` URIs against the
            # process-wide registry even when given another registry_uri.
            client = mlflow.MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
            source = client.get_model_version_download_uri(name, version)
            local = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=source, dst_path=str(partial), tracking_uri=self.tracking_uri
                )
            )
        except Exception as exc:  # MLflow raises several types for network and storage failures
            shutil.rmtree(partial, ignore_errors=True)
            raise ModelLoadError(f"cannot download {name} version {version}: {str(exc).splitlines()[0]}") from None
        if not (local / "artifacts" / "metadata.json").is_file():
            shutil.rmtree(partial, ignore_errors=True)
            raise ModelLoadError(f"{name} version {version} is not a fingercount model (no metadata.json)")
        (local / _COMPLETE).touch()
        shutil.rmtree(target, ignore_errors=True)
        local.rename(target)  # the model directory itself, wherever the store nested it
        shutil.rmtree(partial, ignore_errors=True)
        return target


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
        from fingercount.registry.versions import resolve_version

        target = str(resolve_version(self.name, alias=self.alias, uri=self.manager.tracking_uri).version)
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
