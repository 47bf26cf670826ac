"""`fingercount models …`: the registry's versions and the shipped checkpoints."""

from __future__ import annotations

from typing import Annotated

import typer

from fingercount.cli.common import default_of, registry
from fingercount.config import MlflowConfig

models_app = typer.Typer(help="The model registry: list, describe and promote versions.", no_args_is_help=True)


@models_app.command("list")
def models_list() -> None:
    """Every registered model and its versions, with aliases, stage and key test metrics."""
    from fingercount.registry.versions import eval_set_accuracies

    models = registry().list_models()
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
            for alias in sorted({key.split(".")[1] for key in tags if key.startswith("promotion.")}):
                decision = tags.get(f"promotion.{alias}.decision", "?")
                test = tags.get(f"promotion.{alias}.test", "metric")
                typer.echo(
                    f"        gate @{alias}: {decision} by the {test} test: {tags.get(f'promotion.{alias}.reason')}"
                )


@models_app.command("checkpoints")
def models_checkpoints() -> None:
    """The checkpoints shipped with fingercount (start a training from one with `model.weights: NAME`)."""
    from fingercount.checkpoints import card, shipped

    for name in shipped():
        about = card(name)
        figures = "  ".join(f"{set_name} {value:.1%}" for set_name, value in about.get("count_accuracy", {}).items())
        typer.echo(f"{name}  {about['architecture']} {about['imgsz']} px  {figures}")
        served = about.get("served_by_demo")
        if served:
            figures = "  ".join(f"{set_name} {value:.1%}" for set_name, value in served["count_accuracy"].items())
            head = f"the {served['count_head']} head (count_sure {served['count_sure']})"
            typer.echo(f"  make demo counts with {head}: {figures}")
    if not shipped():
        typer.echo("no checkpoint is shipped with this install")


@models_app.command("describe")
def models_describe(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str | None, typer.Option(help="Version number (default: the latest).")] = None,
) -> None:
    """One version in full: aliases, stage, run, tags and metrics."""
    import json

    typer.echo(json.dumps(registry().describe(name, version), indent=2, sort_keys=True))


@models_app.command("promote")
def models_promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Option(help="Version to promote.")],
    alias: Annotated[str, typer.Option(help="Alias to move (staging, production, …).")] = "production",
    metric: Annotated[str, typer.Option(help="Gate metric: promote only if at least the current holder's.")] = (
        default_of(MlflowConfig, "promotion_metric")
    ),
    force: Annotated[bool, typer.Option("--force", help="Skip the gate.")] = False,
) -> None:
    """Point an alias at a version, gated on a test metric."""
    decision = registry().promote(name, version, alias, metric=metric, force=force)
    verb = "promoted" if decision.promoted else "kept the current version; not promoted"
    typer.echo(f"{name} v{decision.version} @{decision.alias}: {verb} ({decision.reason})")
    if not decision.promoted:
        raise typer.Exit(3)
