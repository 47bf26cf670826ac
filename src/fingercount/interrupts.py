"""A stop asked for (Ctrl-C, SIGTERM) is remembered, so that no library can lose it.

Python raises KeyboardInterrupt wherever the main thread is when the signal lands, and some places
drop it: Ultralytics' `TryExcept` (around its plots) swallows every exception, pybind11 turns one
raised while a module is imported into an ImportError (which its caller may take for "not
installed"), and one raised in a weakref callback or a `__del__` is only printed. A stop dropped so
let a training run on to its end. So the handler remembers the stop; long work calls `check` where
it goes on, a run asked to stop never ends FINISHED, and a lost interrupt is raised again.
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading
from typing import Any

_asked = False


def asked() -> bool:
    """Whether this process was asked to stop."""
    return _asked


def check() -> None:
    """Stop here (KeyboardInterrupt) if a stop was asked for and something let the work go on."""
    if _asked:
        raise KeyboardInterrupt


def _stop(signum: int, frame: object) -> None:
    global _asked
    _asked = True
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM (a service manager, `kill`) both stop the command, and are remembered."""
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    printed = sys.unraisablehook

    def unraisable(lost: Any) -> None:
        printed(lost)
        if isinstance(lost.exc_value, KeyboardInterrupt):  # raised again in the main thread, at once
            again = threading.Timer(0.05, _thread.interrupt_main, (signal.SIGTERM,))
            again.daemon = True
            again.start()

    sys.unraisablehook = unraisable
