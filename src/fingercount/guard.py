"""`python -m fingercount.guard COMMAND…`: run COMMAND so that nothing it starts outlives our process.

The guard leads a process group of its own (started with `start_new_session`), and COMMAND and
everything COMMAND starts live in it. The guard:
- forwards SIGINT, SIGTERM and SIGHUP to COMMAND (a graceful stop stays graceful);
- takes COMMAND with it if the guard itself is killed: COMMAND gets SIGTERM when the guard dies
  (PR_SET_PDEATHSIG, safe here: the guard has one thread, so "the thread that started it exited"
  means "the guard exited");
- when its parent dies, however it died (SIGKILL included), sends COMMAND SIGTERM, and SIGKILL to the
  whole group after a grace period. It polls its parent id rather than using PR_SET_PDEATHSIG,
  which fires when the *thread* that started the child exits (a server's worker thread does);
- when COMMAND ends, stops what it left behind in the group (`mlflow server`'s uvicorn workers)
  and exits with COMMAND's code.

Standard library only: it starts in a few milliseconds and must not itself hold anything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2
PR_SET_PDEATHSIG = 1


def _stop_group(sig: int) -> None:
    """Send `sig` to the group except the guard itself (which ignores SIGTERM from here on)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(os.getpgrp(), sig)


def _die_with_the_guard() -> None:
    """In COMMAND, before it starts: SIGTERM when the guard dies (Linux; elsewhere a no-op). A guard
    killed between the fork and this call is caught by the parent check after it."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != _guard_pid:
            os.kill(os.getpid(), signal.SIGTERM)


_guard_pid = os.getpid()


def run(command: list[str]) -> int:
    parent = os.getppid()
    child = subprocess.Popen(command, preexec_fn=_die_with_the_guard)

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    orphaned_at: float | None = None
    while True:
        try:
            code = child.wait(timeout=POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            pass
        if orphaned_at is None and os.getppid() != parent:
            orphaned_at = time.monotonic()
            child.terminate()
        elif orphaned_at is not None and time.monotonic() - orphaned_at > GRACE_SECONDS:
            _stop_group(signal.SIGKILL)  # the guard goes too: nothing is left to wait for
    _stop_group(signal.SIGTERM)
    return code if code >= 0 else 128 - code


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m fingercount.guard COMMAND [ARG…]")
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
