"""Inference yields the CPU to the event loop: under overload the loop must still admit, refuse and
answer `/health` at once, while inference saturates every core.

Linux keeps a nice value per thread, and raising it needs no privilege (so it works as the
containers' unprivileged user). Two kinds of thread run inference: the inference workers (Python,
see admission.py) and the engine's own compute threads (native: OpenVINO's TBB workers, ONNX
Runtime's pool, PyTorch's OpenMP threads), which no Python code starts and which exist once the
engine has run its warm-up. Elsewhere this is a no-op: on macOS a nice value is per process.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from pathlib import Path

LINUX = sys.platform.startswith("linux")


def lower_this_thread(nice: int) -> None:
    """Raise the calling thread's nice value to `nice` (never lowers it)."""
    if LINUX and nice > 0:
        _renice(threading.get_native_id(), nice)


def lower_engine_threads(nice: int) -> int:
    """Raise to `nice` every thread no Python code started (the engine's compute threads); how many."""
    if not LINUX or nice <= 0:
        return 0
    python = {thread.native_id for thread in threading.enumerate()}
    lowered = 0
    for task in Path("/proc/self/task").iterdir():
        tid = int(task.name)
        if tid not in python:
            lowered += _renice(tid, nice)
    return lowered


def _renice(tid: int, nice: int) -> bool:
    with contextlib.suppress(OSError):  # the thread ended meanwhile
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
            return True
    return False
