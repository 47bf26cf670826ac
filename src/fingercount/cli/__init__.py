"""The `fingercount` command line: a thin layer over the package's functions, one module per command group."""

from fingercount.cli.app import app, main, run

__all__ = ["app", "main", "run"]
