"""INFERENCE_NICE: the inference workers and the engine's native compute threads run at a lower
priority, the event loop and every other Python thread do not. In a child process: a nice value
raised cannot be lowered again without privilege."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a nice value per thread is Linux's")

CHILD = textwrap.dedent(
    """
    import asyncio, json, os, threading
    from pathlib import Path
    import cv2, numpy as np
    from fingercount.serving.admission import Admission
    from fingercount.serving.metrics import ServingMetrics
    from fingercount.serving.priority import lower_engine_threads

    cv2.setNumThreads(2)
    cv2.resize(np.zeros((2000, 2000, 3), np.uint8), (1000, 1000))  # OpenCV starts its native pool

    def nice(tid):
        return os.getpriority(os.PRIO_PROCESS, tid)

    admission = Admission(workers=2, depth=4, metrics=ServingMetrics(), nice=7)
    worker = asyncio.run(admission.run(lambda: (threading.get_native_id(), nice(0))))
    python = {t.native_id for t in threading.enumerate()}
    native = [int(p.name) for p in Path("/proc/self/task").iterdir() if int(p.name) not in python]
    lowered = lower_engine_threads(7)
    print(json.dumps({
        "worker": worker, "main": nice(threading.get_native_id()), "native_before": len(native),
        "lowered": lowered, "native_after": [nice(tid) for tid in native],
        "python_after": {str(t.native_id): nice(t.native_id) for t in threading.enumerate()},
    }))
    admission.close()
    """
)


def test_inference_threads_yield_and_the_event_loop_thread_does_not() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, check=True)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    worker_tid, worker_nice = seen["worker"]
    assert worker_nice == 7  # the inference worker, from its first task
    assert seen["main"] == 0  # the event loop's thread
    assert seen["native_before"] >= 1  # OpenCV's pool: native threads no Python code started
    assert seen["lowered"] == seen["native_before"]
    assert all(value == 7 for value in seen["native_after"])
    others = {tid: value for tid, value in seen["python_after"].items() if int(tid) != worker_tid}
    assert others  # the main thread at least
    assert all(value == 0 for value in others.values())
