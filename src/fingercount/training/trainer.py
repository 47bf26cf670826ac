"""`train(config, env) -> TrainResult`: a pipeline of steps, each callable alone with a typed result.

    prepare_dataset → fit → package → evaluate → register → promote

`package` comes before `evaluate` on purpose: the counts that gate a promotion are measured on
the package's exports, through the engine and detection core that serving runs. This module
owns the one MLflow run of a training; the CLI, the demo and the benchmarks are thin callers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from fingercount.config import DataConfig, TrainingConfig, load_data_config
from fingercount.data.fetch import missing_sets
from fingercount.data.prepare import PrepareResult, prepare
from fingercount.data.sources import source_from_config
from fingercount.errors import ConfigError, DatasetError, TrackingUnavailableError
from fingercount.interrupts import check
from fingercount.labeling.teacher import unavailable_reason
from fingercount.preprocessing import build_pipeline
from fingercount.registry.client import DEFAULT_CACHE, Registry
from fingercount.registry.package import ModelMetadata, ModelPackage, ParentVersion
from fingercount.training import precision, tracking
from fingercount.training.evaluate import EvalReport, read_data_yaml
from fingercount.training.landmark_labels import landmark_data_yaml
from fingercount.training.paste import pasted_data_yaml
from fingercount.training.source_weights import weighted_data_yaml
from fingercount.training.yolo import (
    KPT_SHAPE,
    CpuBf16,
    EpochProgress,
    UseThreads,
    WithoutIntegrations,
    model_source,
    model_task,
    pose_model,
    quiet_ultralytics,
    resolve_device,
    train_args,
)

if TYPE_CHECKING:
    from fingercount.settings import Settings

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class TrainEnvironment:
    """Where a training runs and records (from `Settings` in the CLI; from a workspace in tests)."""

    tracking_uri: str
    artifact_location: str | None = None
    experiments_dir: Path = Path("experiments")
    model_cache: Path = DEFAULT_CACHE
    progress: bool = True
    report: Callable[[dict[str, Any]], None] | None = None  # each phase and epoch, as a dict
    on_epoch: Callable[[int, dict[str, float]], None] | None = None  # each epoch's logged metrics (sweeps)
    parent_run_id: str | None = None  # the run is nested under this one (a sweep's trials)
    run_name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)  # more tags on the run (the campaign's config hash)

    def tell(self, phase: str, **details: Any) -> None:
        if self.report is not None:
            self.report({"phase": phase, **details})

    @classmethod
    def from_settings(
        cls, settings: Settings, progress: bool = True, report: Callable[[dict[str, Any]], None] | None = None
    ) -> TrainEnvironment:
        return cls(
            settings.tracking_uri(),
            settings.artifact_location(),
            model_cache=settings.model_cache_dir,
            progress=progress,
            report=report,
        )


@dataclass
class FitResult:
    save_dir: Path
    weights: Path  # best.pt, or last.pt when Ultralytics wrote no best
    class_names: list[str]
    epochs_logged: list[int]
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainResult:
    run_id: str
    fit: FitResult
    package: ModelPackage | None = None
    evaluation: EvalReport | None = None
    model_version: str | None = None
    promotion: dict[str, Any] | None = None

    @property
    def weights(self) -> Path:
        return self.fit.weights


def config_key(config: TrainingConfig, content_hash: str) -> str:
    """Identifies "this config on this data": a run with the same key can be reused."""
    payload = json.dumps(config.model_dump(mode="json"), sort_keys=True) + content_hash
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def train(
    config: TrainingConfig,
    env: TrainEnvironment,
    *,
    config_path: Path | None = None,
    prepared: PrepareResult | None = None,
    evaluate: bool = True,
    resume: str | None = None,
) -> TrainResult:
    """Run one experiment end to end in one MLflow run (never left RUNNING while the server answers).

    `prepared` reuses a dataset prepared by the caller (the demo prepares first, to key its reuse).
    Evaluation always runs when the config registers the model. `resume`: the id of a run the
    tracking server dropped (see `TrackingLost`): training goes on from its last checkpoint, in it.
    """
    registry = Registry(env.tracking_uri, env.model_cache).check()
    source, parent = starting_point(config, registry)  # fails fast (offline pretrained, unknown version)
    teacher_needed(config)
    project = env.experiments_dir / config.mlflow.experiment_name
    if resume is not None:
        source = str(checkpoint(project, resume))
    env.tell("preparing")
    prepared = prepared or prepare_dataset(config, env.progress)
    data_yaml = prepared.out / "data.yaml"
    tags = {
        "architecture": config.model.architecture,
        "dataset.content_hash": prepared.manifest["content_hash"],
        "config_key": config_key(config, prepared.manifest["content_hash"]),
        **({"parent.uri": parent.uri, "parent.version": parent.version} if parent else {}),
        **({"mlflow.parentRunId": env.parent_run_id} if env.parent_run_id else {}),
        **env.tags,
    }
    run_name = env.run_name or f"{config.model.architecture}-{time.strftime('%Y%m%d-%H%M%S')}"
    result: TrainResult | None = None  # how far it got, for the message if the server is lost
    try:
        with tracking.tracked_run(
            env.tracking_uri, config.mlflow.experiment_name, run_name, tags, env.artifact_location, resume
        ) as run:
            run_id = run.info.run_id
            env.tell("training", run_id=run_id, epochs=config.training.epochs)
            if resume is None:  # a resumed run has them already
                _log_params(config, prepared)
                _log_inputs(config, config_path, prepared)
            logger = tracking.EpochLogger(run_id, env.tracking_uri, env.on_epoch)
            if resume is not None:
                logger.catch_up(Path(source).parent.parent / "results.csv")
            fitted = fit(config, data_yaml, source, project, run_id, logger, env.progress, env.report, bool(resume))
            result = TrainResult(run_id, fitted)
            _log_training_artifacts(fitted.save_dir)
            if not (evaluate or config.mlflow.auto_register):
                return result
            env.tell("packaging")
            result.package = package(fitted, config, run_id, parent, data_yaml)
            env.tell("evaluating")
            result.evaluation = evaluate_package(result.package, data_yaml, config)
            _log_evaluation(result.evaluation)
            if config.mlflow.auto_register:
                env.tell("registering")
                result.model_version = register(registry, result.package, result.evaluation, config)
                result.promotion = promote(registry, config, result.model_version)
    except tracking.TrackingLost as lost:
        raise TrackingUnavailableError(lost_message(env, lost.run_id, project, result, config_path)) from lost
    return result


def teacher_needed(config: TrainingConfig) -> None:
    """Before any run starts: the keys that label with the hand-landmark teacher, where it cannot run."""
    needs = [key for key, on in (("model.landmarks", config.model.landmarks),
                                 ("augmentation.paste", config.augmentation.paste.images > 0)) if on]  # fmt: skip
    if needs and (reason := unavailable_reason()) is not None:
        raise ConfigError(
            f"{' and '.join(needs)} label with the hand-landmark teacher, which cannot run here: {reason}"
        )


def lost_message(
    env: TrainEnvironment, run_id: str, project: Path, result: TrainResult | None, config_path: Path | None
) -> str:
    """What was kept when the tracking server went away mid-run, and the command that carries on."""
    lost = f"the tracking server {env.tracking_uri} stopped answering during run {run_id}"
    if result is not None and result.model_version is not None:
        return f"{lost} after version {result.model_version} was registered: only the run's end is not recorded"
    last = checkpoint_path(project, run_id)
    if not last.is_file():
        return f"{lost}, before the first checkpoint: start the training again when the server answers"
    config = f" --training-config {config_path}" if config_path else ""
    return (
        f"{lost}; the checkpoint {last} is kept. When the server answers: fingercount train{config} --resume {run_id}"
    )


def prepare_dataset(
    config: TrainingConfig, progress: bool = True, data_config: DataConfig | None = None
) -> PrepareResult:
    """Step 1: the configured source(s), validated, preprocessed and split."""
    data_config = data_config or load_data_config(config.dataset.config)
    specs = [data_config.source, *data_config.extra_sources]
    local = [Path(folder.path) for spec in specs for folder in (spec.local, spec.folders) if folder is not None]
    if (missing := missing_sets(local)) is not None:  # said before anything is generated or labelled
        raise DatasetError(missing)
    dataset = source_from_config(data_config).load(progress=progress)
    ratios = config.dataset.split_ratios.as_dict()
    pipeline = build_pipeline(data_config.preprocessing.steps())
    return prepare(dataset, data_config.output_dir, ratios, config.dataset.seed, progress, pipeline)


def checkpoint_path(project: Path, run_id: str) -> Path:
    """Where Ultralytics keeps a run's last checkpoint (each epoch replaces it)."""
    return project / run_id / "weights" / "last.pt"


def checkpoint(project: Path, run_id: str) -> Path:
    last = checkpoint_path(project, run_id)
    if not last.is_file():
        raise ConfigError(f"no checkpoint of run {run_id} at {last}: resume on the machine (and folder) it trained in")
    return last


def starting_point(config: TrainingConfig, registry: Registry | None) -> tuple[str, ParentVersion | None]:
    """What `YOLO(...)` starts from, and the registered parent version when fine-tuning one."""
    uri = config.model.parent_uri
    if uri is None:
        return model_source(config), None
    if registry is None:
        raise ValueError("fine-tuning a registered version needs the registry")
    found, parent = registry.fetch_uri(uri)
    return str(parent.weights), ParentVersion(uri=uri, name=str(found.name), version=str(found.version))


def fit(
    config: TrainingConfig,
    data_yaml: Path,
    source: str,
    project: Path,
    name: str,
    logger: tracking.EpochLogger | None = None,
    progress: bool = True,
    report: Callable[[dict[str, Any]], None] | None = None,
    resume: bool = False,
) -> FitResult:
    """Step 2: train YOLO11 with Ultralytics on every configured thread; per-epoch metrics to `logger`.

    `resume`: `source` is a run's last checkpoint; training goes on from its epoch (a checkpoint
    of a finished training is taken as it is).
    """
    from ultralytics import YOLO

    quiet_ultralytics()
    prepared = data_yaml.parent
    if config.model.landmarks:
        if not resume:  # a resumed run reads its own copy again
            data_yaml, tally = landmark_data_yaml(data_yaml, project / name / "landmarks", progress)
            log.info("model.landmarks: %(with_landmarks)d boxes with the teacher's landmarks, %(without)d without",
                     tally)  # fmt: skip
            tracking.log_params_if_tracked({f"landmarks.boxes_{key}": value for key, value in tally.items()})
        model = pose_model(source, config.model.architecture, read_data_yaml(data_yaml)[1], project / name)
    else:
        model = YOLO(source)
    if config.training.epochs == 0:
        return _as_they_are(model, Path(source), project / name)
    model.callbacks["on_pretrain_routine_start"].insert(0, WithoutIntegrations())
    if resume and training_finished(model.ckpt or {}, config.training.epochs):
        return _fitted(model, Path(source).parent.parent, logger, 0.0)
    if logger is not None:
        model.add_callback("on_fit_epoch_end", logger)
    threads = UseThreads(config.training.threads)
    model.add_callback("on_pretrain_routine_end", threads)
    model.add_callback("on_pretrain_routine_end", CpuBf16())
    model.add_callback("on_train_epoch_start", threads)
    bar = EpochProgress(config.training.epochs, progress, report)
    model.add_callback("on_fit_epoch_end", bar)
    model.add_callback("on_train_batch_end", lambda trainer: check())  # a stop a library dropped
    if config.training.source_weights and not resume:  # a resumed run reads its own list again
        data_yaml, _ = weighted_data_yaml(data_yaml, config.training.source_weights, project / name / "data")
    if config.augmentation.paste.images and not resume:
        real = [spec.label for spec in load_data_config(config.dataset.config).extra_sources]
        data_yaml, _ = pasted_data_yaml(
            data_yaml, prepared, config.augmentation.paste, config.dataset.seed, real, project / name / "data", progress
        )
    started = time.perf_counter()
    try:
        model.train(resume=True) if resume else model.train(**train_args(config, data_yaml, project, name))
    finally:
        bar.close()
    check()  # a stop that Ultralytics' plots dropped (they swallow every exception)
    return _fitted(model, Path(model.trainer.save_dir), logger, time.perf_counter() - started)


def training_finished(ckpt: dict[str, Any], epochs: int) -> bool:
    """Whether a run's last checkpoint has no epoch left to train: Ultralytics refuses to resume it.
    Either its end stripped the optimizer (killed during the final validation or after it) or it was
    killed between its last epoch's save and that strip."""
    done = ckpt.get("epoch", -1) + 1  # epochs trained; 0 once stripped
    planned = (ckpt.get("train_args") or {}).get("epochs", epochs)
    return done <= 0 or ckpt.get("optimizer") is None or done >= planned


def _as_they_are(model: Any, weights: Path, save_dir: Path) -> FitResult:
    """`training.epochs: 0`: the starting weights, unchanged, as the run's best.pt (a shipped checkpoint
    registered as a version of its own)."""
    (save_dir / "weights").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, save_dir / "weights" / "best.pt")
    return _fitted(model, save_dir, None, 0.0)


def _fitted(model: Any, save_dir: Path, logger: tracking.EpochLogger | None, seconds: float) -> FitResult:
    weights = save_dir / "weights" / "best.pt"
    if not weights.is_file():
        weights = save_dir / "weights" / "last.pt"
    logged = list(logger.logged_epochs) if logger is not None else []
    timings = {"train": seconds, "tracking": logger.seconds if logger is not None else 0.0}
    names = [str(model.names[i]) for i in sorted(model.names)]
    return FitResult(save_dir, weights, names, logged, timings)


def package(
    fitted: FitResult, config: TrainingConfig, run_id: str, parent: ParentVersion | None, data_yaml: Path | None = None
) -> ModelPackage:
    """Step 3: the model package (weights + ONNX and OpenVINO exports, INT8 when configured and a
    dataset is given to calibrate on, + metadata) beside the run's outputs."""
    from fingercount.files import built_aside
    from fingercount.registry.package import OPENVINO_INT8_DIR
    from fingercount.training.export import export_model, quantize_openvino
    from fingercount.training.precision import calibration_images

    metadata = ModelMetadata(
        class_names=fitted.class_names,
        imgsz=config.dataset.img_size,
        architecture=config.model.architecture,
        run_id=run_id,
        parent=parent,
        count_head=config.evaluation.count_head,
        count_sure=config.evaluation.count_sure,
        keypoints=KPT_SHAPE[0] if model_task(fitted.weights) == "pose" else 0,
    )
    out = fitted.save_dir / "package"
    with built_aside(out) as work:
        built = ModelPackage.create(work, fitted.weights, metadata)
        exported = export_model(built.weights, metadata.imgsz, built.exports)
        if config.export.int8 and data_yaml is not None:
            xml = next(exported["openvino"].glob("*.xml"))
            images = calibration_images(data_yaml, config.export.calibration_images)
            quantize_openvino(xml, images, metadata.imgsz, built.artifacts / OPENVINO_INT8_DIR)
        built.save()  # checksums of the exports too
    return ModelPackage.open(out)


def evaluate_package(package: ModelPackage, data_yaml: Path, config: TrainingConfig) -> EvalReport:
    """Step 4: mAP, and counts through the engine serving would run, on test and the evaluation sets."""
    from fingercount.training.count_eval import evaluate_sets
    from fingercount.training.evaluate import evaluate

    device = resolve_device(config.device)
    engine = package.served_engine("auto", threads=config.training.threads or os.cpu_count() or 1)
    report = evaluate(engine, package.weights, data_yaml, device)
    threads = config.training.threads or os.cpu_count() or 1
    report.precisions = precision.measure(package, data_yaml, report.count_conf, threads)
    report.precision = precision.choose(report.precisions, config.export.tolerance)
    if config.evaluation.sets:
        metrics, details = evaluate_sets(
            engine, config.evaluation.sets, data_yaml, report.count_conf, config.evaluation.teacher
        )
        report.metrics.update(metrics)
        report.sets = details
    return report


def register(registry: Registry, package: ModelPackage, report: EvalReport, config: TrainingConfig) -> str:
    """Step 5: the package, with its counting threshold and metrics, as a new registered version."""
    metrics = {k: v for k, v in report.metrics.items() if k.startswith(("test/", "eval/"))}
    package.metadata = package.metadata.model_copy(
        update={
            "count_conf": report.count_conf, "metrics": metrics, "precision": report.precision,
            "precisions": report.precisions,
        }
    )  # fmt: skip
    assert package.metadata.run_id is not None, "a package is made inside a tracked run"
    return registry.register(config.mlflow.registered_model_name, package, package.metadata.run_id)


def promote(registry: Registry, config: TrainingConfig, version: str) -> dict[str, Any] | None:
    """Step 6: move the configured alias to the version if it passes the gate."""
    stage = config.mlflow.auto_promote_stage
    if stage in (None, "None"):
        return None
    from fingercount.registry.versions import decision_dict

    decision = registry.promote(
        config.mlflow.registered_model_name, version, stage.lower(), config.mlflow.promotion_metric
    )
    return decision_dict(decision)


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


def _log_evaluation(report: EvalReport) -> None:
    import mlflow

    mlflow.log_metrics(report.metrics)
    for name, measured in report.precisions.items():
        mlflow.log_metrics({f"precision/{name}/val_count_accuracy": measured["count_accuracy"],
                            f"precision/{name}/ms": measured["ms"]})  # fmt: skip
    mlflow.set_tag("serving_precision", report.precision)
    mlflow.log_dict(report.to_dict(), "evaluation/test_report.json")
    if report.sets:
        mlflow.log_dict(report.sets, "evaluation/sets_report.json")
