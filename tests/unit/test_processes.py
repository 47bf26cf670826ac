"""Processes the platform starts never outlive it: `start_guarded`, `stop_process` and the guard."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from fingercount.processes import start_guarded, stop_process, wait_until

# A command that leaves a grandchild behind, as `mlflow server` leaves its uvicorn workers.
TREE = ["sh", "-c", "sleep 300 & sleep 300"]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def descendants(pid: int) -> list[int]:
    return [child.pid for child in psutil.Process(pid).children(recursive=True)]


def test_the_guard_passes_the_command_s_exit_code_through() -> None:
    guarded = start_guarded([sys.executable, "-c", "raise SystemExit(3)"])
    assert guarded.wait(timeout=30) == 3


def test_stop_process_stops_what_the_command_started() -> None:
    guarded = start_guarded(TREE)
    wait_until(lambda: len(descendants(guarded.pid)) >= 3, "guard, sh and two sleeps", timeout=10)
    started = descendants(guarded.pid)
    stop_process(guarded, timeout=10)
    wait_until(lambda: not any(alive(pid) for pid in started), "every process of the tree gone", timeout=5)


def test_a_parent_killed_with_sigkill_takes_the_tree_with_it(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from fingercount.processes import start_guarded
            start_guarded({TREE!r})
            print("started", flush=True)
            time.sleep(300)
        """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert parent.stdout is not None
    assert parent.stdout.readline().strip() == "started"
    wait_until(lambda: len(descendants(parent.pid)) >= 4, "guard, sh and two sleeps", timeout=10)
    tree = descendants(parent.pid)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    killed = time.monotonic()
    wait_until(lambda: not any(alive(pid) for pid in tree), "every process of the tree gone", timeout=5)
    assert time.monotonic() - killed < 5


def test_sigint_reaches_the_command_through_the_guard(tmp_path: Path) -> None:
    """A training job is cancelled with SIGINT so that it ends its MLflow run KILLED: it must get it."""
    marker = tmp_path / "interrupted"
    script = textwrap.dedent(f"""
        import time
        try:
            print("ready", flush=True)
            time.sleep(300)
        except KeyboardInterrupt:
            open({str(marker)!r}, "w").close()
            raise SystemExit(130)
    """)
    guarded = start_guarded([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert guarded.stdout is not None
    assert guarded.stdout.readline().strip() == "ready"
    guarded.send_signal(signal.SIGINT)
    assert guarded.wait(timeout=30) == 130
    assert marker.exists()


def test_a_guard_killed_with_sigkill_takes_its_command_with_it() -> None:
    """Someone SIGKILLs the guard itself (a test, an operator): its command must not train on alone."""
    from fingercount.processes import guarded_pid

    guarded = start_guarded([sys.executable, "-c", "import time; time.sleep(300)"])
    command = guarded_pid(guarded)
    assert command != guarded.pid, "the guard started no command within 10 s"
    assert psutil.Process(command).ppid() == guarded.pid
    os.kill(guarded.pid, signal.SIGKILL)
    guarded.wait()
    wait_until(lambda: not alive(command), "the command gone with its guard", timeout=5)


def test_a_sigterm_that_lands_where_python_drops_exceptions_still_stops_the_command() -> None:
    # A signal's handler runs between any two bytecodes, here inside a weakref callback, where its
    # KeyboardInterrupt is only printed: the campaign runner once trained on after its SIGTERM.
    script = textwrap.dedent("""
        import os, signal, time, weakref
        from fingercount.interrupts import stop_on_signals

        stop_on_signals()
        class Thing: ...
        def gone(ref):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(100_000): pass  # the handler runs here
        thing = Thing()
        ref = weakref.ref(thing, gone)
        try:
            del thing
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                time.sleep(0.01)
            print("went on")
        except KeyboardInterrupt:
            print("stopped")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "Exception ignored" in done.stderr, done.stderr
    assert "KeyboardInterrupt" in done.stderr
    assert done.stdout.strip() == "stopped", done.stderr


def test_a_stop_a_library_swallows_is_remembered() -> None:
    # Ultralytics' TryExcept (around its plots) swallows every exception, KeyboardInterrupt too.
    script = textwrap.dedent("""
        import os, signal
        from fingercount import interrupts

        interrupts.stop_on_signals()
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(100_000): pass
        except BaseException:
            pass
        print(interrupts.asked())
        interrupts.check()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "True", done.stderr
    assert done.returncode != 0
    assert done.stderr.strip().endswith("KeyboardInterrupt"), done.stderr
