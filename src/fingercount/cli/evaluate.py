"""`fingercount eval`: a model measured as it is served, on a test split or on real photos."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fingercount.cli.common import print_metrics, registry
from fingercount.errors import ConfigError

if TYPE_CHECKING:
    from fingercount.inference import Engine


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
        print_metrics(result.metrics)
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
    """(weights, inference engine, stored counting threshold) for a weights path or a registry URI (a
    registered version counts with its count head, as it is served)."""
    from fingercount.errors import ModelNotFoundError
    from fingercount.inference import build_engine

    if model.startswith("models:/"):
        _, package = registry().fetch_uri(model)
        return package.weights, package.served_engine(engine), package.metadata.count_conf
    path = Path(model)
    if not path.is_file():
        raise ModelNotFoundError(f"{path}: no such weights file")
    if engine not in {"auto", "pytorch"}:
        raise ConfigError(f"--engine {engine} needs a registered version (models:/…); a .pt file runs on pytorch")
    from ultralytics import YOLO

    weights = YOLO(str(path))
    names = weights.names
    trained = (getattr(weights, "ckpt", None) or {}).get("train_args", {}).get("imgsz")
    size = imgsz or (int(trained) if isinstance(trained, int) else 640)
    said = (
        "--imgsz" if imgsz else "the size it was trained at" if isinstance(trained, int) else "no size in the weights"
    )
    typer.echo(f"{path}: inference at {size} px ({said})", err=True)
    return path, build_engine({"pytorch": path}, size, [str(names[i]) for i in sorted(names)], "pytorch"), None
