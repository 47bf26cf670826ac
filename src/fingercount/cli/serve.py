"""`fingercount serve` (the API and dashboard) and `fingercount demo` (the whole loop)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fingercount.cli.common import needed_config, settings
from fingercount.interrupts import stop_on_signals


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the API (and dashboard): the model that MODEL_NAME + MODEL_ALIAS/MODEL_STAGE points to."""
    from fingercount.serving.app import create_app
    from fingercount.serving.server import run_server

    run_server(create_app(settings()), host, port, log_level)


DEMO_CONFIG = Path("configs/demo_config.yaml")
DEMO_SCRATCH_CONFIG = Path("configs/demo_scratch_config.yaml")


def demo_command(
    config: Annotated[
        Path | None, typer.Option("--config", "-t", help="Training config of the demo.", show_default=str(DEMO_CONFIG))
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Register and fine-tune again even if this config and data were done.")
    ] = False,
    host: Annotated[str, typer.Option(help="Interface for the dashboard and the MLflow UI.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Dashboard and API port.")] = 8000,
    ui_port: Annotated[int, typer.Option(min=1, max=65535, help="MLflow UI port.")] = 5000,
    serve: Annotated[
        bool, typer.Option(help="Serve the dashboard and MLflow UI (--no-serve: register, fine-tune here, exit).")
    ] = True,
    from_scratch: Annotated[
        bool,
        typer.Option(
            "--from-scratch",
            help="Train from scratch instead of fine-tuning the shipped checkpoint (with the default config: "
            "configs/demo_scratch_config.yaml, drawn hands and one person's photos, ~15 min).",
        ),
    ] = False,
) -> None:
    """The whole loop on CPU: data, the shipped checkpoint registered and served (dashboard + MLflow UI)
    within a couple of minutes, then a fine-tune from it in the background, promoted only if the gate
    finds it better. --from-scratch trains first, then serves."""
    from fingercount.demo import run_demo

    stop_on_signals()  # a training run ends KILLED, the dashboard and the MLflow UI stop in order
    default = DEMO_SCRATCH_CONFIG if from_scratch else DEMO_CONFIG
    config = needed_config(config, default, "--config")
    run_demo(config, fresh, host, port, ui_port, serve, from_scratch)
