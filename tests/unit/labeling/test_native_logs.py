"""The teacher's native INFO/warning lines stay off the terminal; errors and our own output do not."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def stderr_of(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_noise_is_dropped_and_errors_are_kept_in_order() -> None:
    stderr = stderr_of("""
        import os, sys
        from fingercount.labeling.native_logs import quiet_native_logs
        with quiet_native_logs():
            with quiet_native_logs():  # nested users share one redirection
                os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
                os.write(2, b"W0000 00:00:1.0 123 calculator.cc:81] Using NORM_RECT without IMAGE_DIMENSIONS\\n")
                os.write(2, b"E0000 00:00:1.0 123 graph.cc:1] a real error\\n")
            print("our own warning", file=sys.stderr, flush=True)
        print("after", file=sys.stderr)
    """)
    assert stderr.splitlines() == ["E0000 00:00:1.0 123 graph.cc:1] a real error", "our own warning", "after"]


def test_the_teacher_loads_labels_and_closes_without_native_chatter() -> None:
    stderr = stderr_of("""
        import numpy as np
        from fingercount.labeling.teacher import HandTeacher
        with HandTeacher() as teacher:
            teacher.label(np.zeros((64, 64, 3), np.uint8))
    """)
    assert stderr == ""
