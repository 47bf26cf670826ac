"""`train(config) -> TrainResult`: prepare data, train YOLO11, evaluate, register, promote.

This function owns the one MLflow run of a training; the CLI is a thin wrapper around it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fingercount.config import DataConfig, TrainingConfig, load_data_config
from fingercount.data.prepare import PrepareResult, prepare
from fingercount.data.sources import source_from_config
from fingercount.preprocessing import build_pipeline
from fingercount.registry.connection import connect
from fingercount.training import tracking
from fingercount.training.evaluate import EvalReport, evaluate
from fingercount.training.yolo import (
    EpochProgress,
    UseThreads,
    model_source,
    quiet_ultralytics,
    resolve_device,
    train_args,
)

# Ultralytics outputs worth keeping, each logged once under the run's artifact folders.
_PLOTS = (
    "results.png",
    "confusion_matrix.png",
    "confusion_matrix_normalized.png",
    "BoxPR_curve.png",
    "BoxF1_curve.png",
    "BoxP_curve.png",
    "BoxR_curve.png",
)


@dataclass
class TrainResult:
    run_id: str
    save_dir: Path
    best: Path
    epochs_logged: list[int]
    evaluation: EvalReport | None = None
    model_version: str | None = None
    promotion: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def config_key(config: TrainingConfig, content_hash: str) -> str:
    """Identifies "this config on this data": a run with the same key can be reused."""
    payload = json.dumps(config.model_dump(mode="json"), sort_keys=True) + content_hash
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def prepare_dataset(
    config: TrainingConfig, progress: bool = True, data_config: DataConfig | None = None
) -> PrepareResult:
    data_config = data_config or load_data_config(config.dataset.config)
    dataset = source_from_config(data_config).load(progress=progress)
    ratios = config.dataset.split_ratios.as_dict()
    pipeline = build_pipeline(data_config.preprocessing.steps())
    return prepare(dataset, data_config.output_dir, ratios, config.dataset.seed, progress, pipeline)


def train(
    config: TrainingConfig,
    tracking_uri: str,
    config_path: Path | None = None,
    artifact_location: str | None = None,
    evaluate_after: bool = True,
    experiments_dir: Path = Path("experiments"),
    progress: bool = True,
    track: bool = True,
    prepared: PrepareResult | None = None,
) -> TrainResult:
    """Run one experiment end to end. `track=False` skips MLflow (benchmarks only)."""
    from ultralytics import YOLO

    train_args(config, Path("data.yaml"), experiments_dir, "preview")  # refuses ignored settings before any work
    if track or config.model.parent_uri:
        connect(tracking_uri)
    source, parent = starting_point(config)  # fails fast (offline pretrained, unknown version) before any work
    prepared = prepared or prepare_dataset(config, progress)  # the demo prepares first, to key its reuse
    data_yaml = prepared.out / "data.yaml"
    quiet_ultralytics()

    if not track:
        return _fit(YOLO(source), config, data_yaml, experiments_dir / "untracked", "run", None, progress)

    tags = {
        "architecture": config.model.architecture,
        "dataset.content_hash": prepared.manifest["content_hash"],
        "config_key": config_key(config, prepared.manifest["content_hash"]),
        **({"parent.uri": parent["uri"], "parent.version": parent["version"]} if parent else {}),
    }
    run_name = f"{config.model.architecture}-{time.strftime('%Y%m%d-%H%M%S')}"
    with tracking.tracked_run(config.mlflow.experiment_name, run_name, tags, artifact_location) as run:
        run_id = run.info.run_id
        _log_params(config, prepared)
        _log_inputs(config, config_path, prepared)
        logger = tracking.EpochLogger()
        result = _fit(
            YOLO(source), config, data_yaml, experiments_dir / config.mlflow.experiment_name, run_id, logger, progress
        )
        result.run_id = run_id
        _log_training_artifacts(result.save_dir)
        if evaluate_after or config.mlflow.auto_register:
            result.evaluation = _evaluate_and_log(result.best, data_yaml, config)
        if config.mlflow.auto_register:
            result.model_version, result.promotion = _register(result, config, parent)
    return result


def starting_point(config: TrainingConfig) -> tuple[str, dict[str, str] | None]:
    """What `YOLO(...)` starts from, and the registered parent version when fine-tuning one."""
    uri = config.model.parent_uri
    if uri is None:
        return model_source(config), None
    from fingercount.registry.versions import resolve_model_uri

    found, local = resolve_model_uri(uri)
    weights = local / "artifacts" / "weights" / "best.pt"
    return str(weights), {"uri": uri, "name": str(found.name), "version": str(found.version)}


def _fit(
    model: Any, config: TrainingConfig, data_yaml: Path, project: Path, name: str, logger: Any, progress: bool
) -> TrainResult:
    if logger is not None:
        model.add_callback("on_fit_epoch_end", logger)
    threads = UseThreads(config.training.threads)
    model.add_callback("on_pretrain_routine_end", threads)
    model.add_callback("on_train_epoch_start", threads)
    bar = EpochProgress(config.training.epochs, progress)
    model.add_callback("on_fit_epoch_end", bar)
    started = time.perf_counter()
    try:
        model.train(**train_args(config, data_yaml, project, name))
    finally:
        bar.close()
    save_dir = Path(model.trainer.save_dir)
    best = save_dir / "weights" / "best.pt"
    if not best.is_file():
        best = save_dir / "weights" / "last.pt"
    logged = list(logger.logged_epochs) if logger is not None else []
    seconds = {"train": time.perf_counter() - started, "tracking": logger.seconds if logger is not None else 0.0}
    return TrainResult("", save_dir, best, logged, seconds=seconds)


def _log_params(config: TrainingConfig, prepared: PrepareResult) -> None:
    import mlflow

    params = tracking.flatten("", config.model_dump(mode="json"))
    params.update(
        {
            "dataset.content_hash": prepared.manifest["content_hash"],
            "dataset.split_hash": prepared.manifest["split_hash"],
            "dataset.source": json.dumps(prepared.manifest["source"], sort_keys=True),
            "dataset.classes": ",".join(prepared.manifest["classes"]),
            **{f"dataset.{split}_images": info["images"] for split, info in prepared.manifest["splits"].items()},
            "dataset.skipped": len(prepared.skipped),
        }
    )
    params.update(tracking.environment_params())
    mlflow.log_params(params)


def _log_inputs(config: TrainingConfig, config_path: Path | None, prepared: PrepareResult) -> None:
    """The resolved config, the manifest, and the dataset as MLflow lineage."""
    import mlflow
    from mlflow.data.http_dataset_source import HTTPDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    manifest = prepared.manifest
    mlflow.log_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), "config/resolved_config.yaml")
    if config_path is not None and config_path.is_file():
        mlflow.log_text(config_path.read_text(encoding="utf-8"), f"config/{config_path.name}")
    mlflow.log_text(json.dumps(manifest, indent=2, sort_keys=True), "dataset/manifest.json")
    source_uri = prepared.out.resolve().as_uri()
    dataset = MetaDataset(
        source=HTTPDatasetSource(url=source_uri),
        name=f"{manifest['source'].get('source', 'dataset')}-{manifest['content_hash'][:8]}",
        digest=manifest["content_hash"][:16],
    )
    mlflow.log_input(dataset, context="training")


def _log_training_artifacts(save_dir: Path) -> None:
    import mlflow

    for name in ("best.pt", "last.pt"):
        if (save_dir / "weights" / name).is_file():
            mlflow.log_artifact(str(save_dir / "weights" / name), "weights")
    for name in ("results.csv", *_PLOTS):
        if (save_dir / name).is_file():
            mlflow.log_artifact(str(save_dir / name), "plots" if name.endswith(".png") else "")
    for sample in sorted(save_dir.glob("val_batch*_pred.jpg")):
        mlflow.log_artifact(str(sample), "samples")


def _evaluate_and_log(best: Path, data_yaml: Path, config: TrainingConfig) -> EvalReport:
    import mlflow

    device = resolve_device(config.device)
    report = evaluate(best, data_yaml, config.dataset.img_size, device)
    mlflow.log_metrics(report.metrics)
    mlflow.log_dict(report.to_dict(), "evaluation/test_report.json")
    if config.evaluation.sets:
        from ultralytics import YOLO

        from fingercount.training.count_eval import evaluate_sets

        model = YOLO(str(best), task="detect")
        metrics, details = evaluate_sets(
            model, config.evaluation.sets, data_yaml, config.dataset.img_size, report.count_conf,
            config.evaluation.teacher, device,
        )  # fmt: skip
        report.metrics.update(metrics)
        mlflow.log_metrics(metrics)
        mlflow.log_dict(details, "evaluation/sets_report.json")
    return report


def _register(
    result: TrainResult, config: TrainingConfig, parent: dict[str, str] | None
) -> tuple[str, dict[str, Any] | None]:
    from fingercount.registry.versions import decision_dict, promote, register_version
    from fingercount.training.export import export_model

    assert result.evaluation is not None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        weights = work / "weights"
        weights.mkdir()
        shutil.copy(result.best, weights / "best.pt")
        export_model(weights / "best.pt", config.dataset.img_size, work / "exports")
        from ultralytics import YOLO

        names = YOLO(str(weights / "best.pt"), task="detect").names
        metadata = {
            "class_names": [str(names[i]) for i in sorted(names)],
            "imgsz": config.dataset.img_size,
            "architecture": config.model.architecture,
            "count_conf": result.evaluation.count_conf,
            "metrics": {k: v for k, v in result.evaluation.metrics.items() if k.startswith(("test/", "eval/"))},
            "run_id": result.run_id,
            "parent": parent,
        }
        version = register_version(config.mlflow.registered_model_name, weights, work / "exports", metadata, work)
    stage = config.mlflow.auto_promote_stage
    if stage in (None, "None"):
        return version, None
    decision = promote(config.mlflow.registered_model_name, version, stage.lower(), config.mlflow.promotion_metric)
    return version, decision_dict(decision)
