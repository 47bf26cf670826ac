"""What the command groups share: option types, settings, the registry, config defaults."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from fingercount.errors import ConfigError, FingercountError

if TYPE_CHECKING:
    from fingercount.registry import Registry
    from fingercount.settings import Settings

ModelT = TypeVar("ModelT", bound=BaseModel)

# Defaults relative to the working folder (the configs name their data folders relative to it too).
DATA_CONFIG = Path("configs/config.yaml")
TRAINING_CONFIG = Path("configs/training_config.yaml")

QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
ProgressFileOption = Annotated[
    Path | None, typer.Option(help="Also write each phase and epoch as a JSON line here (dashboard jobs).")
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Data config (source and output folder).", show_default=str(DATA_CONFIG)),
]
TrainingConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--training-config",
        "-t",
        help="Training config; its dataset section sets splits and seed "
        "(the built-in 0.8/0.1/0.1, seed 42 when the default is not there).",
        show_default=str(TRAINING_CONFIG),
    ),
]


def default_of(model: type[BaseModel], field: str) -> Any:
    """A CLI option's default, read from the config model that owns it."""
    return model.model_fields[field].default


def needed_config(path: Path | None, default: Path, flag: str) -> Path:
    """A config the command cannot do without: the one given, else the default when it is there.

    Missing, it is one line naming the flag (run from another folder, `configs/` is not there).
    """
    if path is not None:
        return path
    if default.is_file():
        return default
    raise ConfigError(f"{default}: not found under {Path.cwd()}; pass {flag} PATH (or run from the repository root)")


def optional_config(path: Path | None, default: Path, loader: Callable[[Path], ModelT], model: type[ModelT]) -> ModelT:
    """A config the command only takes a few settings from: the one given, else the default file when
    it is there, else the built-in defaults (which the shipped files repeat)."""
    if path is not None:
        return loader(path)
    return loader(default) if default.is_file() else model()


def settings() -> Settings:
    from fingercount.config import describe_validation_error
    from fingercount.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:  # a bad environment variable or .env entry: one line, not a traceback
        raise ConfigError(f"environment (or .env): {describe_validation_error(exc)}") from None


def registry() -> Registry:
    """The configured registry, checked to answer (a one-line error within seconds if not)."""
    from fingercount.registry import Registry

    current = settings()
    return Registry(current.tracking_uri(), current.model_cache_dir).check()


@contextlib.contextmanager
def failure_reported(report: Callable[[dict[str, Any]], None] | None) -> Iterator[None]:
    """A job's error also goes to its progress file, for the server watching it."""
    try:
        yield
    except FingercountError as exc:
        if report is not None:
            report({"phase": "failed", "error": str(exc)})
        raise


def count_accuracies(result: Any) -> dict[str, float]:
    """The model's count accuracy on test and each evaluation set (a job's summary)."""
    metrics = result.evaluation.metrics if result.evaluation else {}
    return {k: v for k, v in metrics.items() if k.endswith("/count_accuracy") and "/teacher/" not in k}


def print_metrics(metrics: dict[str, float]) -> None:
    for key in sorted(metrics):
        typer.echo(f"  {key:<28} {metrics[key]:.4f}")
