"""MediaPipe's native INFO and warning lines kept off the user's terminal, errors kept.

MediaPipe and LiteRT write straight to file descriptor 2 from C++ (`INFO: Created TensorFlow Lite
XNNPACK delegate`, `W0000 … landmark_projection_calculator.cc…` on every teacher load and first
frame), with no switch to turn them off. While the teacher runs, fd 2 goes to a temporary file;
afterwards every line but those is written to the real stderr, in order. Nested and concurrent
users share one redirection (the first opens it, the last replays it): fd 2 is process-wide.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

NOISE = re.compile(rb"^(INFO: |[IW]\d{4} |WARNING: Logging before InitGoogle)")

_lock = threading.Lock()
_users = 0
_saved_fd: int | None = None
_capture: BinaryIO | None = None


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    global _users, _saved_fd, _capture
    with _lock:
        if _users == 0:
            capture = tempfile.TemporaryFile()  # noqa: SIM115  (closed on the last exit)
            _capture, _saved_fd = capture, os.dup(2)
            os.dup2(capture.fileno(), 2)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _capture is not None and _saved_fd is not None:
                os.dup2(_saved_fd, 2)
                os.close(_saved_fd)
                _capture.seek(0)
                kept = b"".join(line for line in _capture if not NOISE.match(line))
                _capture.close()
                _capture, _saved_fd = None, None
                if kept:
                    os.write(2, kept)
