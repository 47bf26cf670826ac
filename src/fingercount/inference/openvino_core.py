"""The process's one OpenVINO `Core`, never released.

Why one: each `ov.Core` creates its own CPU plugin, and the plugin's constructor installs an
alternate signal stack (`sigaltstack`, for AMX tile state) on the thread that creates it; its
destructor unmaps that stack and restores the previous one only when it still is the current
one. Two plugins destroyed out of order, or one destroyed on another thread, leave the thread's
signal stack pointing at unmapped memory, and the next signal handled there (Ctrl-C) kills the
process with SIGSEGV (SI_KERNEL). One Core that lives until exit creates the plugin once and never
unmaps its stack. NNCF creates Cores of its own: quantization runs in a child process
(`training/export.py`).
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def openvino_core() -> Any:
    import openvino as ov

    return ov.Core()
