"""`fingercount campaign …`: the leave-out campaign (training/campaign.py), run by run, and its report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fingercount.cli.common import QuietOption, settings
from fingercount.interrupts import check, stop_on_signals

campaign_app = typer.Typer(
    help="People it has never met: a plan of leave-out runs, resumed run by run, and its report.", no_args_is_help=True
)
PlanArgument = Annotated[Path, typer.Argument(help="The plan (e.g. benchmarks/never_met/plan.yaml).")]


@campaign_app.command("run")
def campaign_run(
    plan_path: PlanArgument,
    runs: Annotated[
        int, typer.Option("--runs", "-n", help="Stop after this many runs (0: run until the plan is done).")
    ] = 0,
    commit: Annotated[bool, typer.Option(help="git-commit each result (and checkpoint) as it lands, alone.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Run the plan's next runs not yet done, one training at a time; each writes one result file.

    A result already there is never run again; a run killed midway writes none, and its MLflow run
    ends KILLED (a runner killed outright leaves it RUNNING: the next runner ends it KILLED). The next
    runner goes on from a killed run's last checkpoint, in the same MLflow run, when its settings are
    the same and its checkpoint is on this machine; otherwise the run starts again.
    Results whose whole photos were counted by an older rule of the landmark model's (`photo_rule`)
    are first counted again (each source's photos once, a minute or two), so every result is judged alike.
    Run it at low priority in the background: `nice -n 19 fingercount campaign run PLAN --commit`.
    """
    from fingercount.training import campaign
    from fingercount.training.trainer import TrainEnvironment

    stop_on_signals()  # a run ends KILLED
    plan = campaign.load_plan(plan_path)
    env = TrainEnvironment.from_settings(settings(), progress=not quiet)
    with campaign.one_runner(plan):
        for stale in campaign.settle_stale_runs(plan, env.tracking_uri):
            typer.echo(f"run {stale} was left RUNNING by a runner that was killed: ended KILLED")
        recounted = campaign.recount_photos(plan, progress=not quiet)
        if recounted:
            line = f"{len(recounted)} result(s) counted again by today's whole-photo rule (the detector's records kept)"
            typer.echo(line)
            if commit:
                campaign.commit_paths(recounted, line)
        done, total = 0, len(campaign.planned_runs(plan))
        while (todo := campaign.pending(plan)) and (runs == 0 or done < runs):
            check()  # a stop a library dropped during the last run: no next one
            run = todo[0]
            typer.echo(f"[{total - len(todo) + 1}/{total}] {run.key}")
            if attempt := campaign.killed_attempt(plan, run, env):
                typer.echo(f"  going on from epoch {attempt.epochs} of its killed run {attempt.run_id}")
            line = campaign.summary_line(campaign.execute(plan, run, env, attempt))
            typer.echo(line)
            if commit:
                campaign.commit_result(plan, run, line)
            done += 1
        left = len(campaign.pending(plan))
        typer.echo(f"{left} run(s) left" if left else "the plan is done")


@campaign_app.command("report")
def campaign_report(
    plan_path: PlanArgument,
    per_count: Annotated[bool, typer.Option(help="Also each true count's accuracy (the class head).")] = False,
    card: Annotated[
        str,
        typer.Option(
            help="Print only the JSON a checkpoint card keeps of the campaign (`served_by_demo.leave_out`): "
            "the baseline counted by these heads, comma-separated (e.g. classes,sure+photo)."
        ),
    ] = "",
) -> None:
    """The campaign's table from the committed results alone: per lever and count head, each left-out
    source's mean and spread over seeds, the no-hand share, the teacher, and the minutes a run."""
    from fingercount.training import campaign

    plan = campaign.load_plan(plan_path)
    if card:
        typer.echo(json.dumps(campaign.card_leave_out(plan, card.split(",")), indent=2))
        return
    typer.echo(campaign.report_table(plan))
    typer.echo("\nAgainst the control (the baseline's class head), by the written rule:")
    for line in campaign.verdicts(plan) or ["- nothing to compare yet"]:
        typer.echo(line)
    typer.echo("\nEach lever under each other head, against the baseline under the same head:")
    for line in campaign.verdicts_by_head(plan) or ["- nothing to compare yet"]:
        typer.echo(line)
    if per_count:
        typer.echo("")
        typer.echo(campaign.per_count_table(plan))
