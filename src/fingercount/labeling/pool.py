"""The teacher over many photos: one teacher per process, photos shared out over spawned processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any, TypeVar

Job = TypeVar("Job")
# Below this many photos a pool costs more (spawn + model load per process) than it saves.
POOL_FROM = 64

_worker_teacher: Any = None


def teacher_map(work: Callable[[Any, Job], Any], jobs: list[Job], workers: int) -> Iterator[Any]:
    """`work(teacher, job)` for each job, in order. `work` must be a module-level function (it is
    pickled to the workers); processes are spawned, never forked from a torch process."""
    if workers <= 1 or len(jobs) < POOL_FROM:
        _start_worker()
        try:
            yield from (work(_worker_teacher, job) for job in jobs)
        finally:
            _worker_teacher.close()
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker) as pool:
        yield from pool.map(partial(_run, work), jobs, chunksize=16)


def _start_worker() -> None:
    from fingercount.labeling.teacher import HandTeacher

    global _worker_teacher  # one teacher per process: loading the model takes ~100 ms
    _worker_teacher = HandTeacher()


def _run(work: Callable[[Any, Any], Any], job: Any) -> Any:
    return work(_worker_teacher, job)
