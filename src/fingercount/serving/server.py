"""Run the app under uvicorn so that a stop takes seconds: Ctrl-C or SIGTERM signals everything that
must stop (the training job, and what the caller adds, such as the demo's MLflow UI) at once, and
open connections get a short grace rather than as long as they like."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI

CONNECTION_GRACE = 1  # seconds open requests and WebSockets get to finish once the server stops


class _StoppingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_stop = on_stop
        self._stop_signalled = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self._stop_signalled:
            self._stop_signalled = True
            self._on_stop()  # in a signal handler: it sends signals, it never waits
        super().handle_exit(sig, frame)


def run_server(app: FastAPI, host: str, port: int, log_level: str, on_stop: Callable[[], None] | None = None) -> None:
    """`uvicorn.run(app, …)`, with everything stopping in parallel from the first signal on."""
    jobs = app.state.serving.jobs

    def stop_all() -> None:
        jobs.begin_shutdown()
        if on_stop is not None:
            on_stop()

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=CONNECTION_GRACE)
    server = _StoppingServer(config, stop_all)
    with contextlib.suppress(KeyboardInterrupt):  # the signal uvicorn raises again once it has shut down
        server.run()
    if not server.started:
        sys.exit(3)  # uvicorn's own code for "could not start" (it has said why: a port in use, …)
