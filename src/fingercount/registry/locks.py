"""A mutex held in the model registry itself, for read-compare-write steps such as the promotion gate.

MLflow has no compare-and-set for aliases: two promotions that both read "version 3 holds
@production" and both move the alias leave it to whichever wrote last, which may be the worse
version. Creating a registered model is atomic in every backend (the name is the primary key),
so a registered model named `<model>.lock` is the lock: one creator wins, the others wait.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fingercount.errors import ConflictError

LOCK_SUFFIX = ".lock"
_SINCE = "fingercount.lock.since"


def is_lock(name: str) -> bool:
    return name.endswith(LOCK_SUFFIX)


@contextmanager
def registry_lock(client: Any, name: str, timeout: float = 60.0, stale_after: float = 300.0) -> Iterator[None]:
    """Hold `<name>.lock` in the registry; a lock older than `stale_after` s (its holder died) is broken."""
    from mlflow.exceptions import MlflowException

    lock = f"{name}{LOCK_SUFFIX}"
    holder = f"{socket.gethostname()} pid {os.getpid()}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.create_registered_model(
                lock,
                tags={_SINCE: str(time.time()), "fingercount.lock.holder": holder},
                description=f"fingercount: held while {name} is promoted; safe to delete if older than a few minutes",
            )
            break
        except MlflowException as exc:
            # "does not exist" too: the store reads the holder's lock back to word its refusal,
            # and finds it released meanwhile. Both mean: someone else had it; try again.
            if exc.error_code not in {"RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"}:
                raise
        if _age(client, lock) > stale_after:
            _delete(client, lock)
            continue
        if time.monotonic() > deadline:
            raise ConflictError(f"{lock} is held by another promotion; try again, or delete it if it is stale")
        time.sleep(random.uniform(0.05, 0.25))  # noqa: S311 -- jitter: waiters do not retry in lockstep
    try:
        yield
    finally:
        _delete(client, lock)


def _age(client: Any, lock: str) -> float:
    from mlflow.exceptions import MlflowException

    try:
        since = client.get_registered_model(lock).tags.get(_SINCE)
    except MlflowException:
        return 0.0  # released meanwhile: try again
    try:
        return time.time() - float(since)
    except (TypeError, ValueError):
        return float("inf")  # not ours to understand: treat as stale


def _delete(client: Any, lock: str) -> None:
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):  # already gone (broken as stale by another process)
        client.delete_registered_model(lock)
