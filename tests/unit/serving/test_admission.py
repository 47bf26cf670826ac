"""Admission keeps the queue's promise: beyond running + waiting a request is refused at once, and
one that waited longer than `max_wait` for a worker is refused then instead of run late."""

from __future__ import annotations

import asyncio
import threading

import pytest

from fingercount.errors import OverloadedError
from fingercount.serving.admission import Admission
from fingercount.serving.metrics import ServingMetrics
from tests.unit.serving.conftest import run_async


def sample(metrics: ServingMetrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


def test_a_request_that_waited_past_the_promise_is_refused_not_run() -> None:
    metrics = ServingMetrics()
    admission = Admission(workers=1, depth=1, metrics=metrics, max_wait=0.05)
    admission.reset(0.05)  # depth = max_wait / service time = 1
    release = threading.Event()
    ran: list[str] = []

    def work(name: str) -> str:
        if name == "first":
            release.wait(5)  # holds the only worker well past max_wait
        ran.append(name)
        return name

    async def scenario() -> list[str | BaseException]:
        first = asyncio.ensure_future(admission.run(work, "first"))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(admission.run(work, "second"))  # waits behind the first
        await asyncio.sleep(0.01)
        third = asyncio.ensure_future(admission.run(work, "third"))  # 1 running + 1 waiting: refused at once
        await asyncio.sleep(0.2)
        release.set()
        return await asyncio.gather(first, second, third, return_exceptions=True)

    try:
        first, second, third = run_async(scenario())
    finally:
        admission.close()
    assert first == "first"
    assert isinstance(second, OverloadedError)  # waited ~0.2 s > 0.05 s: refused, never run
    assert isinstance(third, OverloadedError)
    assert ran == ["first"]
    assert sample(metrics, "fingercount_inference_shed_total") == 2
    assert sample(metrics, "fingercount_inference_queue_seconds_count") == 1  # only what ran
    assert sample(metrics, "fingercount_inference_admitted") == 0


def test_a_fixed_depth_makes_no_promise_and_runs_what_it_admitted() -> None:
    admission = Admission(workers=1, depth=2, metrics=ServingMetrics(), max_wait=None)
    release = threading.Event()

    def work(name: str) -> str:
        if name == "first":
            release.wait(5)
        return name

    async def scenario() -> list[str]:
        first = asyncio.ensure_future(admission.run(work, "first"))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(admission.run(work, "second"))
        await asyncio.sleep(0.2)
        release.set()
        return list(await asyncio.gather(first, second))

    try:
        assert run_async(scenario()) == ["first", "second"]
    finally:
        admission.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_inference_runs_on_its_own_threads(workers: int) -> None:
    admission = Admission(workers=workers, depth=8, metrics=ServingMetrics())

    async def scenario() -> set[str]:
        names = await asyncio.gather(*(admission.run(lambda: threading.current_thread().name) for _ in range(8)))
        return set(names)

    try:
        names = run_async(scenario())
    finally:
        admission.close()
    assert all(name.startswith("inference") for name in names)
    assert len(names) <= workers
