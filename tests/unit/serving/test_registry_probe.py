"""/health's registry answer: checked at most once per `max_age`, off the caller's thread, one check
in flight at a time, and an exception read as "not reachable"."""

from __future__ import annotations

import threading
import time

from fingercount.processes import wait_until
from fingercount.serving.registry_probe import RegistryProbe


class Registry:
    """A registry that answers `up`, after `delay` seconds, counting the checks."""

    def __init__(self, up: bool = True, delay: float = 0.0) -> None:
        self.up, self.delay, self.checks = up, delay, 0
        self.lock = threading.Lock()

    def check(self) -> bool:
        with self.lock:
            self.checks += 1
        time.sleep(self.delay)
        if self.up is None:
            raise ConnectionError("refused")
        return self.up


def test_the_first_answer_is_checked_then_reused_within_max_age() -> None:
    registry = Registry()
    probe = RegistryProbe(registry.check, max_age=60)
    assert not probe.known()
    assert probe.reachable() is True
    assert all(probe.reachable() for _ in range(100))
    assert registry.checks == 1


def test_a_stale_answer_is_returned_at_once_and_refreshed_in_the_background() -> None:
    registry = Registry(delay=0.3)
    probe = RegistryProbe(registry.check, max_age=0.05)
    assert probe.reachable() is True  # the first check, waited for
    registry.up = False
    time.sleep(0.1)
    started = time.perf_counter()
    answers = [probe.reachable() for _ in range(50)]  # stale: each returns the last answer at once
    assert time.perf_counter() - started < 0.2
    assert answers == [True] * 50
    assert registry.checks == 2  # fifty stale reads, one refresh in flight
    wait_until(lambda: probe.reachable() is False, "the refresh", timeout=5, interval=0.02)


def test_start_checks_in_the_background_and_a_first_reader_waits_for_that_check() -> None:
    registry = Registry(up=False, delay=0.2)
    probe = RegistryProbe(registry.check, max_age=60)
    probe.start()
    assert probe.reachable() is False
    assert registry.checks == 1  # the reader waited for the background check instead of making its own


def test_a_check_that_raises_reads_as_unreachable() -> None:
    registry = Registry(up=None)
    probe = RegistryProbe(registry.check, max_age=60)
    assert probe.reachable() is False
    assert probe.known()
