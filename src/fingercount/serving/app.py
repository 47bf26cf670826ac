"""`create_app(settings)`: the composition root — registry → model manager → routes."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from fingercount import __version__
from fingercount.errors import FingercountError, InvalidRequestError, OverloadedError
from fingercount.registry.client import Registry
from fingercount.serving.admission import Admission
from fingercount.serving.deps import ServingState
from fingercount.serving.metrics import ServingMetrics
from fingercount.serving.middleware import ObserveMiddleware, SecurityHeadersMiddleware
from fingercount.serving.model_manager import AliasFollower, ModelInfo, ModelManager
from fingercount.serving.priority import lower_engine_threads
from fingercount.serving.registry_probe import RegistryProbe
from fingercount.serving.routes import collections, config, health, jobs, models, monitor, predict
from fingercount.serving.schemas import MULTIPART_FRAMING
from fingercount.settings import Settings, quiet_third_parties

log = logging.getLogger(__name__)
HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 408: "request_timeout"}


def _load_default_model(state: ServingState) -> None:
    """At startup, off the request path: a missing model or a dead registry only degrades /health."""
    settings = state.settings
    try:
        state.manager.load(settings.model_name, **settings.default_model_ref())
    except FingercountError as exc:
        state.startup_error = str(exc)
        log.warning("no default model: %s", exc)
    except Exception as exc:  # the registry client can fail in many ways; the server must still start
        state.startup_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.warning("no default model: %s", state.startup_error)


class Dashboard(StaticFiles):
    """The static dashboard, mounted last so the API routes win. A request with a method that no
    route takes lands here: its 405 names, in `Allow`, the methods the path does take."""

    _api_paths: list[tuple[re.Pattern[str], list[str]]] | None = None  # from the OpenAPI document, once

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self._api_paths is None:
                self._api_paths = _api_paths(scope["app"].openapi())
            path = scope["path"]
            api = next((methods for pattern, methods in self._api_paths if pattern.fullmatch(path)), [])
            allowed = api or ["GET", "HEAD"]
            if api or scope["method"] not in allowed:
                raise StarletteHTTPException(405, headers={"Allow": ", ".join(allowed)})
        await super().__call__(scope, receive, send)


def _api_paths(document: dict[str, Any]) -> list[tuple[re.Pattern[str], list[str]]]:
    """Each API path template as a pattern, with the methods it takes."""
    return [
        (re.compile(re.sub(r"\{[^}]+\}", "[^/]+", template)), sorted(method.upper() for method in operations))
        for template, operations in document["paths"].items()
    ]


def create_app(settings: Settings | None = None, load_default: bool = True) -> FastAPI:
    quiet_third_parties()
    settings = settings or Settings()
    metrics = ServingMetrics()

    # QUEUE_DEPTH fixed, or (default) as many as clear within MAX_QUEUE_WAIT at the measured speed.
    follow_speed = settings.queue_depth is None
    admission = Admission(
        settings.inference_workers,
        settings.queue_depth or 1,
        metrics,
        settings.max_queue_wait if follow_speed else None,
        settings.inference_nice,
    )

    def on_swap(info: ModelInfo) -> None:
        admission.reset(info.inference_ms / 1000)
        lower_engine_threads(settings.inference_nice)  # the new engine's compute threads exist after its warm-up
        metrics.swaps.inc()
        metrics.model_loaded.set(1)
        metrics.model.info({"name": info.name, "version": info.version, "engine": info.engine})

    registry = Registry(settings.tracking_uri(), settings.model_cache_dir)
    manager = ModelManager(
        registry,
        settings.engine,
        settings.engine_threads,
        settings.openvino_precision,
        on_swap=on_swap,
    )
    state = ServingState(
        settings=settings,
        manager=manager,
        metrics=metrics,
        admission=admission,
        registry_probe=RegistryProbe(lambda: registry.reachable(timeout=1.5)),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.enable_preprocessing:
            _ = state.face_blur  # load CenterFace before the first request
        state.frame_storage.start()  # says once what stored frames keep (and why none, if the blur cannot run)
        if load_default:
            threading.Thread(target=_load_default_model, args=(state,), name="default-model", daemon=True).start()
        state.monitor.start()
        state.registry_probe.start()
        if settings.model_follow:
            alias = settings.serving_alias()
            state.follower = AliasFollower(manager, settings.model_name, alias, settings.model_follow_interval)
            state.follower.start()
        yield
        if state.follower is not None:
            state.follower.stop()
        state.jobs.shutdown()
        state.monitor.stop()
        state.close()
        admission.close()

    app = FastAPI(
        title="fingercount",
        version=__version__,
        description="Counts raised fingers with YOLO11 models from the MLflow registry.",
        lifespan=lifespan,
    )
    app.state.serving = state

    @app.exception_handler(FingercountError)
    async def domain_error(request: Request, exc: FingercountError) -> JSONResponse:
        metrics.errors.labels(exc.code).inc()
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, OverloadedError) else None
        return JSONResponse(exc.body(), status_code=exc.http_status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Starlette's own errors (unknown route, wrong method, stalled body) in the one error shape."""
        code = HTTP_ERROR_CODES.get(exc.status_code, "http_error")
        metrics.errors.labels(code).inc()
        return JSONResponse(
            {"error": code, "detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return await domain_error(request, InvalidRequestError(problems))

    app.add_middleware(
        ObserveMiddleware, metrics=metrics, max_body=settings.max_upload_bytes + MULTIPART_FRAMING, admission=admission,
        body_timeout=settings.body_timeout,
    )  # fmt: skip
    app.add_middleware(SecurityHeadersMiddleware)  # early 413s get the headers too
    if settings.cors_origin_list():  # outermost: a preflight is answered before anything else runs
        origins = settings.cors_origin_list()
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=["*"], allow_headers=["*"],
            allow_credentials="*" not in origins,  # the browser refuses credentials with `*`
        )  # fmt: skip

    app.include_router(health.router)
    app.include_router(models.router)
    app.include_router(predict.router)
    app.include_router(collections.router)
    app.include_router(jobs.router)
    app.include_router(monitor.router)
    app.include_router(config.router)

    # The dashboard: static files, no build step; mounted last so the API routes win.
    app.mount("/", Dashboard(directory=Path(__file__).with_name("static"), html=True), name="dashboard")

    return app
