"""Whether the registry answers, as `/health` reports it: checked off the request path.

A health check that makes its own HTTP call to the registry costs a thread hop, a socket round trip
and up to the timeout on every probe, and under load every one of those waits its turn on the
event loop. Here `/health` reads the last answer; when it is older than `max_age` one refresh starts
on a thread of its own, and at most one is in flight. So a probe's answer is at most `max_age` plus
one check's timeout old, and a hundred probes a second cost one registry call a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RegistryProbe:
    def __init__(self, check: Callable[[], bool], max_age: float = 1.0) -> None:
        self.check = check
        self.max_age = max_age
        self._reachable: bool | None = None  # None: never checked
        self._checked_at = float("-inf")
        self._checking = threading.Lock()  # held while a refresh is in flight

    def start(self) -> None:
        """The first check, in the background, so that the first `/health` rarely has to wait."""
        self._refresh_in_background()

    def reachable(self) -> bool:
        """The last answer (checking now, on the caller's thread, only if there has never been one)."""
        if self._reachable is None:
            with self._checking:
                if self._reachable is None:
                    self._store(self._check())
        elif time.monotonic() - self._checked_at > self.max_age:
            self._refresh_in_background()
        return bool(self._reachable)

    def known(self) -> bool:
        return self._reachable is not None

    def _refresh_in_background(self) -> None:
        if not self._checking.acquire(blocking=False):
            return  # one in flight already

        def refresh() -> None:
            try:
                self._store(self._check())
            finally:
                self._checking.release()

        threading.Thread(target=refresh, name="registry-probe", daemon=True).start()

    def _check(self) -> bool:
        try:
            return self.check()
        except Exception:  # whatever the client raises, the registry did not answer
            return False

    def _store(self, reachable: bool) -> None:
        self._reachable = reachable
        self._checked_at = time.monotonic()
