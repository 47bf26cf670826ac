"""`fingercount demo`: synthetic data → train → evaluate → register → promote → serve, in one go.

A second run reuses what exists: the dataset (cached by its parameters) and a finished training
of the same config on the same data (matched by the run's `config_key` tag).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from fingercount.config import DataConfig, TrainingConfig, load_data_config, load_training_config
from fingercount.errors import ConfigError
from fingercount.processes import port_free, start_guarded, stop_process
from fingercount.settings import Settings

ALIAS = "production"


@contextlib.contextmanager
def mlflow_ui(settings: Settings, host: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """The MLflow UI on the same embedded store, stopped with the demo (whatever stops the demo)."""
    command = [
        sys.executable, "-m", "mlflow", "server", "--backend-store-uri", settings.tracking_uri(),
        "--default-artifact-root", settings.artifact_location() or "./mlartifacts",
        "--host", host, "--port", str(port),
    ]  # fmt: skip
    process = start_guarded(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        stop_process(process, timeout=15)


def available_data(config: TrainingConfig) -> tuple[TrainingConfig, DataConfig, list[str]]:
    """The demo's configs without the real-photo sources that cannot be used here, and why.

    Without them the demo still runs, on drawn hands alone; evaluation sets and the promotion
    metric that need a dropped source are dropped with it.
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
    if not dropped:
        return config, data, notes
    sets = {name: spec for name, spec in config.evaluation.sets.items() if spec.source not in dropped}
    metric = config.mlflow.promotion_metric
    if metric.startswith("eval/") and metric.split("/")[1] not in sets:
        metric = "test/count_accuracy"
    config = config.model_copy(
        update={
            "evaluation": config.evaluation.model_copy(update={"sets": sets}),
            "mlflow": config.mlflow.model_copy(update={"promotion_metric": metric}),
        }
    )
    return config, data.model_copy(update={"extra_sources": kept}), notes


def run_demo(
    config_path: Path, fresh: bool, host: str, port: int, ui_port: int, serve: bool = True, from_scratch: bool = False
) -> dict[str, Any]:
    from fingercount.registry import Registry
    from fingercount.training.trainer import TrainEnvironment, config_key, prepare_dataset, train

    config, data_config, notes = available_data(load_training_config(config_path))
    if from_scratch:
        config = config.model_copy(update={"model": config.model.model_copy(update={"weights": None})})
    settings = Settings()
    if serve:
        for wanted, flag in ((port, "--port"), (ui_port, "--ui-port")):
            if not port_free(host, wanted):
                raise ConfigError(f"port {wanted} is in use: stop what uses it or pass {flag} with a free port")
    registry = Registry(settings.tracking_uri(), settings.model_cache_dir).check()
    started = time.perf_counter()
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
    key = config_key(config, prepared.manifest["content_hash"])
    version = None if fresh else registry.version_for_run_tag(config.mlflow.experiment_name, "config_key", key)
    if version is not None:
        typer.echo(f"2/4 training: reusing version {version} trained from this config and data (--fresh retrains)")
    else:
        start = f"from the shipped checkpoint {config.model.weights}" if config.model.weights else "from scratch"
        typer.echo(
            f"2/4 training {config.model.architecture} {start} for {config.training.epochs} epochs on CPU "
            "(progress below)"
        )
        result = train(config, TrainEnvironment.from_settings(settings), config_path=config_path, prepared=prepared)
        version = result.model_version
        assert version is not None, "the demo config registers its model"
        metrics = result.evaluation.metrics if result.evaluation else {}
        typer.echo(
            f"   test: exact finger-count accuracy {metrics.get('test/count_accuracy', 0):.1%}, "
            f"mAP50-95 {metrics.get('test/mAP50-95', 0):.3f}"
        )
        for name in config.evaluation.sets:
            teacher = metrics.get(f"eval/{name}/teacher/count_accuracy")
            beside = f" (hand-landmark teacher: {teacher:.1%})" if teacher is not None else ""
            typer.echo(f"   {name}: exact finger-count accuracy {metrics[f'eval/{name}/count_accuracy']:.1%}{beside}")
    model_name = config.mlflow.registered_model_name
    decision = registry.promote(model_name, version, ALIAS, config.mlflow.promotion_metric)
    if not decision.promoted:  # the demo always shows the model it just trained or reused
        decision = registry.promote(model_name, version, ALIAS, force=True)
    typer.echo(f"3/4 registry: {config.mlflow.registered_model_name} v{version} is @{ALIAS}")
    summary = {"version": version, "seconds_to_model": time.perf_counter() - started}
    if serve:
        serve_demo(settings, config.mlflow.registered_model_name, host, port, ui_port)
    return summary


def serve_demo(settings: Settings, model_name: str, host: str, port: int, ui_port: int) -> None:
    import uvicorn

    from fingercount.serving.app import create_app

    ui_url = f"http://{host}:{ui_port}"
    settings = settings.model_copy(update={"model_name": model_name, "model_alias": ALIAS, "mlflow_ui_url": ui_url})
    with mlflow_ui(settings, host, ui_port):
        typer.echo("4/4 serving — press Ctrl-C to stop everything")
        typer.echo(f"   dashboard:  http://{host}:{port}/")
        typer.echo(f"   API docs:   http://{host}:{port}/docs")
        typer.echo(f"   MLflow UI:  {ui_url}")
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
    typer.echo("demo stopped")
