"""`fingercount demo`: data → the shipped checkpoint registered and served → a fine-tune from it in
the background, promoted only if the gate says it is better (`--from-scratch`: train, then serve).

A second run reuses what exists: the dataset (cached by its parameters) and a finished training
of the same config on the same data (matched by the run's `config_key` tag).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from fingercount.config import DataConfig, TrainingConfig, load_data_config, load_training_config, without_sources
from fingercount.errors import ConfigError
from fingercount.processes import port_free, signal_group, start_guarded, stop_group
from fingercount.settings import Settings

ALIAS = "production"
UI_GRACE = 1.5  # seconds the MLflow UI gets from the demo's stop on, then SIGKILL (it holds no state)


@contextlib.contextmanager
def mlflow_ui(settings: Settings, host: str, port: int) -> Iterator[UIStop]:
    """The MLflow UI on the same embedded store, stopped with the demo (whatever stops the demo)."""
    command = [
        sys.executable, "-m", "mlflow", "server", "--backend-store-uri", settings.tracking_uri(),
        "--default-artifact-root", settings.artifact_location() or "./mlartifacts",
        "--host", host, "--port", str(port),
    ]  # fmt: skip
    process = start_guarded(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    stopping = UIStop(process)
    try:
        yield stopping
    finally:
        stop_group(process, UI_GRACE, since=stopping.since)


class UIStop:
    """The MLflow UI's stop, begun from the demo's signal handler so that it runs beside the server's."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.since: float | None = None

    def begin(self) -> None:
        if self.since is None:
            self.since = time.monotonic()
            signal_group(self.process)  # the server, its uvicorn and job workers at once


def available_data(config: TrainingConfig) -> tuple[TrainingConfig, DataConfig, list[str]]:
    """The demo's configs without the real-photo sources that cannot be used here, and why.

    Without them the demo still runs, on drawn hands alone; evaluation sets, source weights and the
    promotion metric that need a dropped source are dropped with it.
    """
    from fingercount.labeling.teacher import unavailable_reason

    data = load_data_config(config.dataset.config)
    notes, kept = [], []
    for source in data.extra_sources:
        problem = None
        path = source.folders.path if source.folders else source.local.path if source.local else None
        if path is not None and not path.exists():
            problem = f"{path} is not on this machine"
        elif source.folders is not None or source.verify == "teacher":
            problem = unavailable_reason()
        if problem:
            notes.append(f"real photos ({source.label}) left out: {problem}")
        else:
            kept.append(source)
    dropped = {source.label for source in data.extra_sources} - {source.label for source in kept}
    config, data = without_sources(config, data, dropped)
    return config, data, notes


def run_demo(
    config_path: Path, fresh: bool, host: str, port: int, ui_port: int, serve: bool = True, from_scratch: bool = False
) -> None:
    """Data, then a served model as soon as there is one, then (unless from scratch) the fine-tune.

    From the shipped checkpoint: the checkpoint is registered as it is (evaluated on the held-out
    sets) and served within a couple of minutes; the config's fine-tune then runs as the server's
    training job and is promoted only if the gate finds it better (the server follows the alias).
    """
    from fingercount.registry import Registry
    from fingercount.training.trainer import prepare_dataset

    config, data_config, notes = available_data(load_training_config(config_path))
    if from_scratch:
        config = config.model_copy(update={"model": config.model.model_copy(update={"weights": None})})
    settings = Settings()
    if serve:
        for wanted, flag in ((port, "--port"), (ui_port, "--ui-port")):
            if not port_free(host, wanted):
                raise ConfigError(f"port {wanted} is in use: stop what uses it or pass {flag} with a free port")
    registry = Registry(settings.tracking_uri(), settings.model_cache_dir).check()
    real = [
        f"{source.label}, boxed by the teacher" if source.type == "folders"
        else f"{source.label}, checked by the teacher" if source.verify == "teacher"
        else source.label
        for source in data_config.extra_sources
    ]  # fmt: skip
    what = f"drawn hands + real photos ({'; '.join(real)})" if real else "drawn hands"
    typer.echo(f"1/4 dataset: {what}; generated and labelled once (cached), then split")
    for note in notes:
        typer.echo(f"   note: {note}; training on drawn hands alone counts real fingers poorly")
    prepared = prepare_dataset(config, data_config=data_config)
    model_name = config.mlflow.registered_model_name
    fine_tune = None
    if from_scratch or config.model.weights is None:
        version = _trained(registry, config, config_path, prepared, fresh, "2/4 training")
        registry.promote(model_name, version, ALIAS, force=True)  # the demo shows the model it just trained
        typer.echo(f"3/4 registry: {model_name} v{version} is @{ALIAS}")
    else:
        as_is = config.model_copy(update={"training": config.training.model_copy(update={"epochs": 0})})
        version = _trained(registry, as_is, config_path, prepared, fresh, "2/4 registry")
        registry.promote(model_name, version, ALIAS, config.mlflow.promotion_metric)  # a better one may hold it
        typer.echo(f"   {model_name} v{registry.resolve(model_name, alias=ALIAS).version} is @{ALIAS}")
        fine_tune = _fine_tune_plan(registry, config, config_path, prepared, fresh, bool(notes), serve)
    if serve:
        serve_demo(settings, model_name, host, port, ui_port, fine_tune)


def _trained(registry: Any, config: TrainingConfig, config_path: Path, prepared: Any, fresh: bool, step: str) -> str:
    """The version this config on this data registered before (unless `fresh`), or a new one (gated
    by the config's promotion)."""
    from fingercount.training.trainer import TrainEnvironment, config_key, train

    key = config_key(config, prepared.manifest["content_hash"])
    version = None if fresh else registry.version_for_run_tag(config.mlflow.experiment_name, "config_key", key)
    checkpoint = config.model.weights if config.training.epochs == 0 else None
    if version is not None:
        what = f"the shipped checkpoint {checkpoint}" if checkpoint else "this config and data"
        typer.echo(f"{step}: reusing version {version} registered from {what} (--fresh registers again)")
        return str(version)
    if checkpoint:
        typer.echo(f"{step}: the shipped checkpoint {checkpoint} as a version, measured on the held-out sets")
    else:
        start = f"from {config.model.weights}" if config.model.weights else "from scratch"
        typer.echo(
            f"{step}: {config.model.architecture} {start} for {config.training.epochs} epochs on CPU (progress below)"
        )
    settings = Settings()
    result = train(config, TrainEnvironment.from_settings(settings), config_path=config_path, prepared=prepared)
    assert result.model_version is not None, "the demo config registers its model"
    _print_figures(config, result.evaluation.metrics if result.evaluation else {})
    return result.model_version


def _print_figures(config: TrainingConfig, metrics: dict[str, float]) -> None:
    typer.echo(
        f"   test: exact finger-count accuracy {metrics.get('test/count_accuracy', 0):.1%}, "
        f"mAP50-95 {metrics.get('test/mAP50-95', 0):.3f}"
    )
    for name in config.evaluation.sets:
        teacher = metrics.get(f"eval/{name}/teacher/count_accuracy")
        beside = f" (hand-landmark teacher: {teacher:.1%})" if teacher is not None else ""
        typer.echo(f"   {name}: exact finger-count accuracy {metrics[f'eval/{name}/count_accuracy']:.1%}{beside}")


def _fine_tune_plan(
    registry: Any, config: TrainingConfig, config_path: Path, prepared: Any, fresh: bool, reduced: bool, serve: bool
) -> Path | None:
    """The config to fine-tune with while serving, or None when there is nothing to do (or it ran here)."""
    from fingercount.training.trainer import config_key

    step = f"3/4 fine-tune ({config.training.epochs} epochs from it on the same data)"
    if reduced:
        typer.echo(f"{step}: skipped — on drawn hands alone it would unlearn real hands")
        return None
    key = config_key(config, prepared.manifest["content_hash"])
    done = None if fresh else registry.version_for_run_tag(config.mlflow.experiment_name, "config_key", key)
    if done is not None:
        typer.echo(f"{step}: reusing version {done}, {_gate_said(registry, config, done)}")
        return None
    if not serve:
        version = _trained(registry, config, config_path, prepared, fresh, step)
        typer.echo(f"   v{version} {_gate_said(registry, config, version)}")
        return None
    typer.echo(f"{step}: in the background once serving; promoted only if it counts the held-out photos better "
               "beyond noise (McNemar's paired test; a tie keeps v1)")  # fmt: skip
    return config_path


def _gate_said(registry: Any, config: TrainingConfig, version: str) -> str:
    tags = registry.describe(config.mlflow.registered_model_name, version)["tags"]
    decision = {"promoted": "promoted", "kept": "not promoted"}.get(tags.get(f"promotion.{ALIAS}.decision", ""))
    return f"{decision}: {tags.get(f'promotion.{ALIAS}.reason')}" if decision else "not gated"


def serve_demo(
    settings: Settings, model_name: str, host: str, port: int, ui_port: int, fine_tune: Path | None = None
) -> None:
    from fingercount.serving.app import create_app
    from fingercount.serving.server import run_server

    ui_url = f"http://{host}:{ui_port}"
    settings = settings.model_copy(update={"model_name": model_name, "model_alias": ALIAS, "mlflow_ui_url": ui_url})
    app = create_app(settings)
    if fine_tune is not None:
        threading.Thread(target=_fine_tune_job, args=(app.state.serving, fine_tune), daemon=True).start()
    with mlflow_ui(settings, host, ui_port) as ui:
        typer.echo("4/4 serving — press Ctrl-C to stop everything")
        typer.echo(f"   dashboard:  http://{host}:{port}/")
        typer.echo(f"   API docs:   http://{host}:{port}/docs")
        typer.echo(f"   MLflow UI:  {ui_url}")
        run_server(app, host, port, "warning", on_stop=ui.begin)  # the UI stops while the server does
    typer.echo("demo stopped")


def _fine_tune_job(state: Any, config_path: Path) -> None:
    """Once the model serves: the fine-tune as the server's training job (the Collect page shows it too),
    a line per epoch here, and the gate's decision at the end."""
    while state.manager.current() is None:
        time.sleep(0.5)
    job = state.jobs.start_training(config_path)
    typer.echo(f"   fine-tune started (job {job.id}; the dashboard's Collect page shows it too)")
    shown = 0
    while job.state == "running":
        if job.phase == "training" and job.epoch > shown:
            shown = job.epoch
            typer.echo(f"   fine-tune: epoch {job.epoch}/{job.epochs}, mAP50 {job.metrics.get('mAP50', 0):.3f}")
        time.sleep(1)
    if job.state == "succeeded":
        figures = ", ".join(f"{k.removeprefix('eval/').removesuffix('/count_accuracy')} {v:.1%}"
                            for k, v in job.metrics.items() if k.endswith("/count_accuracy"))  # fmt: skip
        after = "the dashboard now serves it" if job.promoted else "the served version stays"
        typer.echo(f"   fine-tune done: {job.message} ({figures}); {after}")
    elif job.state == "failed":
        typer.echo(f"   fine-tune failed: {job.error}; the served version stays", err=True)
