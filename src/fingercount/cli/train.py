"""`fingercount train`, `tune` and `teach`: trainings tracked in MLflow, registered and gated."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fingercount.cli.common import (
    TRAINING_CONFIG,
    ProgressFileOption,
    QuietOption,
    count_accuracies,
    failure_reported,
    needed_config,
    print_metrics,
    settings,
)
from fingercount.config import load_training_config
from fingercount.errors import ConfigError
from fingercount.interrupts import stop_on_signals

TEACH_CONFIG = Path("configs/teach_config.yaml")


def train_command(
    training_config: Annotated[
        Path | None,
        typer.Option("--training-config", "-t", help="Experiment config.", show_default=str(TRAINING_CONFIG)),
    ] = None,
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

    stop_on_signals()  # the run ends KILLED
    training_config = needed_config(training_config, TRAINING_CONFIG, "--training-config")
    config = load_training_config(training_config)
    load_data_config(config.dataset.config)  # both configs are checked before any work starts
    report = ProgressFile(progress_file) if progress_file else None
    env = TrainEnvironment.from_settings(settings(), progress=not quiet, report=report)
    with failure_reported(report):
        result = train(config, env, config_path=training_config, evaluate=evaluate, resume=resume)
    typer.echo(f"run {result.run_id} finished; weights: {result.weights}")
    if result.evaluation is not None:
        print_metrics(result.evaluation.metrics)
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
                "metrics": count_accuracies(result)})  # fmt: skip


def tune_command(
    space: Annotated[Path, typer.Option("--space", "-s", help="Search space YAML (see configs/tune_space.yaml).")],
    training_config: Annotated[
        Path | None,
        typer.Option(
            "--training-config", "-t", help="The training config the space varies.", show_default=str(TRAINING_CONFIG)
        ),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Sweep a training config with Ray Tune (ASHA stops laggards); register and gate the best trial.

    One parent MLflow run with a nested run per trial. Local Ray unless RAY_ADDRESS names a cluster.
    """
    from fingercount.config import load_data_config, load_training_config
    from fingercount.training.trainer import TrainEnvironment
    from fingercount.training.tune import load_space, tune_sweep

    config = load_training_config(needed_config(training_config, TRAINING_CONFIG, "--training-config"))
    load_data_config(config.dataset.config)
    sweep = load_space(space, config)
    env = TrainEnvironment.from_settings(settings(), progress=not quiet)
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


def teach_command(
    collection: Annotated[str, typer.Argument(help="Name of a collection made on the dashboard's Collect page.")],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-t", help="Teach config: base data, epochs, image size.", show_default=str(TEACH_CONFIG)
        ),
    ] = None,
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

    stop_on_signals()  # the run ends KILLED
    current = settings()
    name = model_name or current.model_name
    target = alias or current.serving_alias()
    base = load_training_config(needed_config(config, TEACH_CONFIG, "--config"))
    report = ProgressFile(progress_file) if progress_file else None
    env = TrainEnvironment.from_settings(current, progress=not quiet, report=report)
    folder = (collections_dir or current.collections_path()) / collection
    with failure_reported(report):
        result, decision = teach(base, folder, env, name, target, parent or f"models:/{name}@{target}", epochs)
    verb = "promoted to" if decision.promoted else "not promoted to"
    message = f"{name} v{result.model_version} {verb} @{decision.alias}: {decision.reason}"
    if report is not None:
        report({"phase": "done", "version": result.model_version, "promoted": decision.promoted,
                "message": message, "metrics": count_accuracies(result)})  # fmt: skip
    typer.echo(message)


def leave_out_command(
    training_config: Annotated[
        Path | None,
        typer.Option("--training-config", "-t", help="The recipe to measure.", show_default=str(TRAINING_CONFIG)),
    ] = None,
    sources: Annotated[
        list[str] | None, typer.Option("--source", help="A real source to leave out (repeat; default: each in turn).")
    ] = None,
    seeds: Annotated[
        list[int] | None, typer.Option("--seed", help="Split and training seed (repeat; default: the config's).")
    ] = None,
    teacher: Annotated[bool, typer.Option(help="Count the same photos with the hand-landmark teacher too.")] = True,
    work: Annotated[Path, typer.Option(help="Where the reduced datasets are prepared.")] = Path("data/leave-out"),
    report: Annotated[Path | None, typer.Option(help="Write every run and the summary as JSON here.")] = None,
    quiet: QuietOption = False,
) -> None:
    """People it has never met: train the recipe without one real source, count ALL of that source.

    For each left-out source and seed: one tracked run (experiment `<name>-leave-out`, not
    registered), then the model's and the teacher's exact count accuracy on every photo of the
    source, per count, and the share of photos where the model found no hand.
    """
    import json

    from fingercount.config import load_data_config
    from fingercount.training.leave_out import leave_out, real_sources, summary
    from fingercount.training.trainer import TrainEnvironment

    stop_on_signals()  # a run ends KILLED
    config = load_training_config(needed_config(training_config, TRAINING_CONFIG, "--training-config"))
    chosen = sources or real_sources(load_data_config(config.dataset.config))
    if not chosen:
        raise ConfigError(f"{config.dataset.config} has no real source (extra_sources) to leave out")
    env = TrainEnvironment.from_settings(settings(), progress=not quiet)
    results = []
    for name in chosen:
        for seed in seeds or [config.dataset.seed]:
            result = leave_out(config, name, seed, env, work, with_teacher=teacher)
            results.append(result)
            line = f"without {name} (seed {seed}, run {result.run_id[:8]}): {result.photos} photos of {name}; "
            line += f"model {result.model.accuracy:.1%} (no hand {result.model.no_hand:.1%})"
            if result.teacher is not None:
                line += f", teacher {result.teacher.accuracy:.1%}"
            typer.echo(line)
            for who, counted in (("model", result.model), ("teacher", result.teacher)):
                if counted is not None:
                    typer.echo(
                        f"  {who:<8} per count " + " ".join(f"{k}:{v:.0%}" for k, v in counted.per_count.items())
                    )
    totals = summary(results)
    for name, figures in totals.items():
        teacher_part = f", teacher {figures['teacher']:.1%}" if "teacher" in figures else ""
        typer.echo(f"{name}: model {figures['model_mean']:.1%} mean over {figures['seeds']:.0f} seed(s), "
                   f"spread {figures['model_spread']:.1%}{teacher_part}")  # fmt: skip
    if report is not None:
        report.write_text(json.dumps({"runs": [r.to_dict() for r in results], "summary": totals}, indent=2))
        typer.echo(f"report written to {report}")
