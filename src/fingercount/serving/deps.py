"""State on `app.state`, handed to routes as `Annotated[..., Depends(...)]` aliases.

The dependencies are `async def` although they never await: FastAPI runs a plain `def`
dependency in its thread pool: two thread hops per /predict for a few attribute reads (0.2–0.3 ms
of event-loop CPU per request on two cores, docs/benchmarks.md).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, Header, Request

from fingercount.data.collections import Collections
from fingercount.errors import NoModelLoadedError, UnauthorizedError
from fingercount.preprocessing import Pipeline, build_pipeline
from fingercount.serving.admission import Admission
from fingercount.serving.jobs import TrainingJobs
from fingercount.serving.metrics import ServingMetrics
from fingercount.serving.model_manager import AliasFollower, LoadedModel, ModelManager
from fingercount.serving.monitor import Monitor, ReviewStore
from fingercount.serving.privacy import FrameStorage
from fingercount.serving.registry_probe import RegistryProbe
from fingercount.serving.schemas import StreamDefaults
from fingercount.settings import Settings


@dataclass
class ExperimentsCache:
    """Experiments and runs from the registry, kept a few seconds: listing each run's weights is one
    registry call per run, and a dashboard asks again on every visit. `refresh` drops it (the seed's
    `/models/experiments/refresh`)."""

    ttl: float = 5.0
    _at: float = 0.0  # monotonic, for the age
    _wall: float = 0.0  # wall clock, for `cached_at`
    _value: list[dict[str, Any]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, fetch: Callable[[], list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], float]:
        with self._lock:
            if self._value is None or time.monotonic() - self._at > self.ttl:
                self._value, self._at, self._wall = fetch(), time.monotonic(), time.time()
            return self._value, self._wall

    def drop(self) -> None:
        with self._lock:
            self._value = None


@dataclass
class ServingState:
    settings: Settings
    manager: ModelManager
    metrics: ServingMetrics
    admission: Admission
    registry_probe: RegistryProbe
    follower: AliasFollower | None = None
    startup_error: str | None = field(default=None)
    stream_defaults: StreamDefaults = field(default_factory=StreamDefaults)
    experiments_cache: ExperimentsCache = field(default_factory=lambda: ExperimentsCache())
    _teacher_lock: threading.Lock = field(default_factory=threading.Lock)

    @cached_property
    def face_blur(self) -> Pipeline:
        """Built on first use: the CenterFace model loads once per process."""
        return build_pipeline([("face_blur", self.settings.face_blur_settings())])

    @cached_property
    def frame_storage(self) -> FrameStorage:
        """Every frame written to disk goes through it: faces blurred unless KEEP_FACES=1."""
        return FrameStorage(self.settings.keep_faces, lambda: self.face_blur)

    @cached_property
    def collections(self) -> Collections:
        return Collections(self.settings.collections_path())

    @cached_property
    def jobs(self) -> TrainingJobs:
        return TrainingJobs(self.settings, self.manager)

    @cached_property
    def monitor(self) -> Monitor:
        review = None
        if self.settings.monitor_keep:
            folder = self.settings.collections_path() / "_pending-review"  # not a collection name
            keep_bytes = int(self.settings.monitor_keep_mb * 1024 * 1024)
            review = ReviewStore(folder, self.settings.monitor_keep_max, keep_bytes, self.frame_storage)
        return Monitor(self.settings, self.metrics, review)

    @cached_property
    def _teacher(self) -> Any:
        from fingercount.labeling.teacher import HandTeacher

        return HandTeacher()

    def close(self) -> None:
        """Release what was loaded on first use (the teacher's native landmarker)."""
        teacher = self.__dict__.pop("_teacher", None)
        if teacher is not None:
            teacher.close()

    def label_hands(self, frame: np.ndarray) -> list[Any]:
        """The hand-landmark teacher's hands (`TeacherHand`) in a frame; one frame at a time."""
        with self._teacher_lock:
            return list(self._teacher.label(frame))

    def preprocessing(self, requested: bool | None) -> Pipeline | None:
        wanted = self.settings.enable_preprocessing if requested is None else requested
        return self.face_blur if wanted else None


async def get_state(request: Request) -> ServingState:
    state: ServingState = request.app.state.serving
    return state


State = Annotated[ServingState, Depends(get_state)]


def require_model(state: State) -> LoadedModel:
    loaded = state.manager.current()
    if loaded is None:
        reason = state.manager.last_error or state.startup_error or "no model has been loaded yet"
        raise NoModelLoadedError(
            f"no model loaded ({reason}); load one with POST /models/load and a body like "
            '{"alias": "production"} or {"version": N}, or register and promote a model first'
        )
    return loaded


async def current_model(state: State) -> LoadedModel:
    return require_model(state)


CurrentModel = Annotated[LoadedModel, Depends(current_model)]


async def require_admin(state: State, authorization: Annotated[str | None, Header()] = None) -> None:
    token = state.settings.admin_token
    if not token:
        return
    supplied = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(supplied.encode(), token.encode()):
        raise UnauthorizedError("this endpoint needs the header `Authorization: Bearer <ADMIN_TOKEN>`")


Admin = Annotated[None, Depends(require_admin)]
