"""MLflow tracking: one run per training, owned here, never left RUNNING."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any


def ensure_experiment(name: str, artifact_location: str | None) -> str:
    """The experiment's id, creating it (with our artifact folder) on first use."""
    import mlflow

    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    return str(mlflow.create_experiment(name, artifact_location=artifact_location))


class TrackingLost(Exception):
    """The tracking server stopped answering inside a run, which therefore could not be ended."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} could not be ended: the tracking server does not answer")
        self.run_id = run_id


@contextmanager
def tracked_run(
    tracking_uri: str,
    experiment: str,
    run_name: str,
    tags: Mapping[str, str],
    artifact_location: str | None = None,
    resume_run_id: str | None = None,
) -> Iterator[Any]:
    """Start (or resume) the run on `tracking_uri`; an exception ends it FAILED, Ctrl-C or SIGTERM
    KILLED (also where a library dropped the interrupt: `fingercount.interrupts`), with the error as
    a tag. When the server is what failed, the run cannot be ended: `TrackingLost`.

    MLflow's fluent logging API (and Ultralytics' callbacks through it) writes to the process-wide
    tracking URI, so the run sets it; registry access never relies on it (`fingercount.registry`).
    """
    import mlflow

    from fingercount.errors import ConfigError
    from fingercount.interrupts import asked, check
    from fingercount.registry.connection import client_defaults

    client_defaults()
    mlflow.set_tracking_uri(tracking_uri)
    if resume_run_id is not None:
        status = mlflow.get_run(resume_run_id).info.status
        if status == "FINISHED":
            raise ConfigError(f"run {resume_run_id} finished already: there is nothing to resume")
        run = mlflow.start_run(run_id=resume_run_id)
        mlflow.set_tag("resumed", "true")
    else:
        mlflow.set_experiment(experiment_id=ensure_experiment(experiment, artifact_location))
        run = mlflow.start_run(run_name=run_name, tags=dict(tags))
    try:
        yield run
        check()  # a stop a library dropped on the way: the run ends KILLED, never FINISHED
    except TrackingLost:
        raise
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt) or asked()  # or an error a stop caused
        named = type(exc).__name__ + (f": {exc}" if str(exc) else "")
        error = (f"interrupted ({named})" if interrupted else named)[:5000]
        try:
            mlflow.set_tag("error", error)
            mlflow.end_run(status="KILLED" if interrupted else "FAILED")
        except Exception:
            raise TrackingLost(run.info.run_id) from exc
        raise
    try:
        mlflow.end_run(status="FINISHED")
    except Exception as exc:
        raise TrackingLost(run.info.run_id) from exc


def flatten(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten(name, value))
        else:
            flat[name] = value
    return flat


def log_params_if_tracked(params: Mapping[str, Any]) -> None:
    """Params of the active run; none where nothing tracks (a tuning trial's fit)."""
    import mlflow

    if mlflow.active_run() is not None:
        mlflow.log_params(params)


def environment_params() -> dict[str, str]:
    """Package versions and hardware, so a run can be reproduced and compared."""
    params = {"env.python": platform.python_version(), "env.platform": platform.platform()}
    for package in ("fingercount", "ultralytics", "torch", "torchvision", "mlflow", "numpy", "opencv-python"):
        try:
            params[f"env.{package}"] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    params["env.cpu"] = _cpu_model()
    params["env.cpu_count"] = str(os.cpu_count())
    params["env.gpu"] = _gpu_name()
    return params


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu_name() -> str:
    import torch

    if torch.cuda.is_available():
        return ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return "none"


def is_main_rank() -> bool:
    """True outside distributed training and on its rank 0 (Ultralytics' DDP sets RANK per process)."""
    return int(os.environ.get("RANK", "-1")) in (-1, 0)


class EpochLogger:
    """Ultralytics callback: one batched MLflow write per epoch, `step=epoch` (1-based).

    It names its run and server itself (no process-wide state): with several GPUs Ultralytics
    pickles its callbacks into one process per GPU, and only rank 0 logs — into the same run.
    """

    def __init__(
        self, run_id: str, tracking_uri: str, on_epoch: Callable[[int, dict[str, float]], None] | None = None
    ) -> None:
        self.run_id, self.tracking_uri = run_id, tracking_uri
        self.on_epoch = on_epoch  # told each epoch after it is logged (a sweep reports it to its scheduler)
        self.logged_epochs: list[int] = []
        self.seconds = 0.0  # time spent logging, for the overhead benchmark

    def __call__(self, trainer: Any) -> None:
        if not is_main_rank():
            return
        epoch = int(trainer.epoch) + 1
        # Ultralytics calls this once more after training for the final validation of best.pt.
        if epoch > int(trainer.epochs) or epoch in self.logged_epochs:
            return
        started = time.perf_counter()
        metrics = epoch_metrics(trainer)
        from mlflow import MlflowClient
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(key, value, now, epoch) for key, value in metrics.items()]
        MlflowClient(self.tracking_uri).log_batch(self.run_id, metrics=batch, synchronous=True)
        self.logged_epochs.append(epoch)
        self.seconds += time.perf_counter() - started
        if self.on_epoch is not None:
            self.on_epoch(epoch, metrics)

    def catch_up(self, results_csv: Path) -> list[int]:
        """Log the epochs in Ultralytics' results.csv that the run lacks (checkpointed, then the
        server went away before they were logged); returns them."""
        import csv

        from mlflow import MlflowClient
        from mlflow.entities import Metric

        if not results_csv.is_file():
            return []
        run, client = self.run_id, MlflowClient(self.tracking_uri)
        have = {m.step for m in client.get_metric_history(run, "mAP50")}
        now = int(time.time() * 1000)
        missing = []
        with results_csv.open(newline="") as rows:
            for row in csv.DictReader(rows):
                raw = {key.strip(): value for key, value in row.items()}
                epoch = int(float(raw["epoch"]))
                if epoch not in have:
                    batch = [Metric(key, value, now, epoch) for key, value in _ours(raw).items()]
                    client.log_batch(run, metrics=batch, synchronous=True)
                    missing.append(epoch)
        return missing


# Ultralytics key -> our one naming scheme.
_METRIC_NAMES = {
    "metrics/mAP50(B)": "mAP50",
    "metrics/mAP50-95(B)": "mAP50-95",
    "metrics/precision(B)": "precision",
    "metrics/recall(B)": "recall",
    "train/box_loss": "train_box_loss",
    "train/cls_loss": "train_cls_loss",
    "train/dfl_loss": "train_dfl_loss",
    "val/box_loss": "val_box_loss",
    "val/cls_loss": "val_cls_loss",
    "val/dfl_loss": "val_dfl_loss",
}
EPOCH_METRICS = (*_METRIC_NAMES.values(), "F1", "lr")


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def epoch_metrics(trainer: Any) -> dict[str, float]:
    raw = {**trainer.label_loss_items(trainer.tloss, prefix="train"), **(trainer.metrics or {}), **(trainer.lr or {})}
    return _ours(raw)


def _ours(raw: Mapping[str, Any]) -> dict[str, float]:
    """Our metric names from Ultralytics' (the trainer's, or a row of its results.csv)."""
    metrics = {ours: float(raw[theirs]) for theirs, ours in _METRIC_NAMES.items() if theirs in raw}
    metrics["F1"] = f1(metrics.get("precision", 0.0), metrics.get("recall", 0.0))
    metrics["lr"] = float(raw.get("lr/pg0", 0.0))
    return metrics
