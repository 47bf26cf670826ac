"""The root `fingercount` command: one Typer app that gathers the command groups."""

from __future__ import annotations

import atexit
import contextlib
import errno
import inspect
import os
import sys
import threading
from typing import NoReturn

import typer

from fingercount.cli import blur, evaluate, serve, train
from fingercount.cli.campaign import campaign_app
from fingercount.cli.data import data_app
from fingercount.cli.models import models_app
from fingercount.errors import FingercountError
from fingercount.interrupts import asked
from fingercount.settings import quiet_third_parties

app = typer.Typer(
    name="fingercount",
    help="Train, track and serve YOLO11 models that count raised fingers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# In the order `--help` has always listed them.
app.add_typer(data_app, name="data")
app.command("blur")(blur.blur_command)
app.command("serve")(serve.serve_command)
app.command("demo")(serve.demo_command)
app.add_typer(models_app, name="models")
app.command("train")(train.train_command)
app.command("tune")(train.tune_command)
app.command("leave-out")(train.leave_out_command)
app.add_typer(campaign_app, name="campaign")
app.command("teach")(train.teach_command)
app.command("eval")(evaluate.eval_command)


def reflowed(text: str) -> str:
    """A docstring's paragraphs each on one line: Rich wraps them to the terminal, but keeps the source's
    line breaks too, which makes `--help` ragged. A paragraph of bullets keeps its lines."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        par if any(line.lstrip().startswith(("- ", "* ", "\b")) for line in par.splitlines()) else " ".join(par.split())
        for par in paragraphs
    )


def _reflow_help(group: typer.Typer) -> None:
    for command in group.registered_commands:
        command.help = reflowed(command.help or inspect.getdoc(command.callback) or "")
    for sub in group.registered_groups:
        if (inner := sub.typer_instance) is not None:
            if isinstance(inner.info.help, str):  # else Typer's placeholder: no help given
                inner.info.help = reflowed(inner.info.help)
            _reflow_help(inner)


_reflow_help(app)


def main() -> None:
    """Console entry point: domain errors become one line on stderr and their exit code."""
    quiet_third_parties()
    try:
        app()
    except FingercountError as exc:
        if asked():  # an error the stop caused (a library turned its KeyboardInterrupt into one)
            typer.echo(f"interrupted ({exc})", err=True)
            sys.exit(130)
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except OSError as exc:
        if exc.errno not in _STORAGE_ERRORS:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        typer.echo(f"error: {exc.strerror}{where}: {_STORAGE_ERRORS[exc.errno]}", err=True)
        sys.exit(1)


def run() -> NoReturn:
    """The installed command (`fingercount`, `python -m fingercount`): `main`, then a prompt back at once.

    Tearing down an interpreter that loaded PyTorch, Ultralytics and MLflow takes seconds of garbage
    collection (2 s here after a training), which a stop would wait for. What an exit must do is
    done here: non-daemon threads joined, atexit handlers run (MLflow, logging, multiprocessing),
    output flushed; then the process ends without the teardown. An unexpected exception still
    takes Python's own way out, traceback and all.
    """
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    # What Python's own exit does first: its exit hooks (idle thread pools are told to stop), then
    # non-daemon threads joined. CPython's private step, as the interpreter calls it.
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # sys.exit("message") prints it and exits 1
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code or 0)


# Storage failures a user fixes outside the program: one line, no traceback. Writes are built aside,
# so what was complete before stays complete.
_STORAGE_ERRORS = {
    errno.ENOSPC: "free some space and run the command again",
    errno.EDQUOT: "free some space (disk quota) and run the command again",
    errno.EROFS: "the file system is read-only: choose another folder",
    errno.EACCES: "no permission: choose a folder you can write, or fix its owner",
}
