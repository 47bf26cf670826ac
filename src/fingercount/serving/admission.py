"""Bounded admission for inference: a few requests run, a bounded number wait, the rest are shed.

An unbounded queue makes every client wait longer as load grows and tells none of them to back
off. Here at most `workers` inferences run at once (on their own threads, so `/health` and
`/metrics` never wait behind inference) and at most `depth` more wait; beyond that a request is
answered 503 with `Retry-After` at once — before its body is read (`would_shed`, checked by the
middleware) and again when it is admitted (`run`, authoritative). With the default depth (sized
from `max_wait`) the promise is kept, not only aimed at: a request that still waited longer than
`max_wait` when a worker takes it is refused then, not run late. The inference threads may run at
a lower priority (`nice`, INFERENCE_NICE, see priority.py) so that the event loop answers sooner.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import anyio

from fingercount.errors import OverloadedError
from fingercount.serving.metrics import ServingMetrics
from fingercount.serving.priority import lower_this_thread

T = TypeVar("T")


class Expired:
    """What a worker returns for a request that waited longer than `max_wait`: it is refused instead."""


EXPIRED = Expired()


class Admission:
    def __init__(
        self, workers: int, depth: int, metrics: ServingMetrics, max_wait: float | None = None, nice: int = 0
    ) -> None:
        self.workers = workers
        self.depth = depth
        self.metrics = metrics
        # With `max_wait`, the depth follows the measured service time: as many as clear within it.
        self.max_wait = max_wait
        self.pool = ThreadPoolExecutor(workers, "inference", initializer=lower_this_thread, initargs=(nice,))
        self.admitted = 0  # running + waiting; touched only on the event loop
        self.seconds_per_request = 0.05  # service time per request (all workers together), measured

    def reset(self, seconds_per_request: float) -> None:
        """A new model: start from its measured inference time."""
        self.seconds_per_request = max(seconds_per_request, 1e-3)
        self._resize()

    def observe(self, seconds: float) -> None:
        """One request's time in a worker (a worker thread calls it): a moving average of the service time."""
        self.seconds_per_request += 0.1 * (seconds / self.workers - self.seconds_per_request)
        self._resize()

    def _resize(self) -> None:
        if self.max_wait is not None:
            self.depth = max(1, int(self.max_wait / max(self.seconds_per_request, 1e-3)))

    def would_shed(self) -> bool:
        return self.admitted >= self.workers + self.depth

    def shed(self) -> OverloadedError:
        self.metrics.shed.inc()
        wait = (self.admitted / self.workers) * self.seconds_per_request
        return OverloadedError(
            f"the server is at capacity ({self.workers} running, {self.depth} waiting): retry shortly",
            retry_after=max(1, math.ceil(wait)),
        )

    async def run(self, function: Callable[..., T], *args: object) -> T:
        if self.would_shed():
            raise self.shed()
        self.admitted += 1
        self.metrics.queue.set(self.admitted)
        enqueued = time.perf_counter()

        def timed() -> T | Expired:
            started = time.perf_counter()
            waited = started - enqueued
            if self.max_wait is not None and waited > self.max_wait:
                return EXPIRED  # the queue's promise broken: a 503 now beats an answer later than promised
            self.metrics.queue_wait.observe(waited)
            try:
                return function(*args)
            finally:
                self.observe(time.perf_counter() - started)

        try:
            # Shielded: a cancelled request still holds its place until its inference ends.
            with anyio.CancelScope(shield=True):
                result = await asyncio.wrap_future(self.pool.submit(timed))
        finally:
            self.admitted -= 1
            self.metrics.queue.set(self.admitted)
        if isinstance(result, Expired):
            raise self.shed()
        return result

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
