"""The leave-out campaign: a plan of runs — the recipe's stages × levers × left-out sources × seeds —
run one at a time, each result one JSON file. A result already there is never run again, so a
campaign longer than any session resumes where it stopped; a run killed midway writes nothing.

A lever changes the recipe's last stage (settings of the training config), starting from the same
earlier-stage checkpoint as the baseline: that checkpoint was trained without the left-out source
(it is the baseline's own earlier-stage run), so the lever and its control arm differ only by the
lever. A lever with `stages: all` trains every stage with its settings (a new architecture).

A run stopped on purpose (SIGTERM: its MLflow run ends KILLED) keeps Ultralytics' last checkpoint,
so the next runner goes on from that epoch, in the same MLflow run, rather than from the start: a
session's last hour still counts. Its result says so (`resumed`); none is written until it ends.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from fingercount.config import (
    SURE_HEADS,
    StrictModel,
    TrainingConfig,
    load_config,
    load_data_config,
    load_training_config,
    set_key,
)
from fingercount.errors import ConfigError
from fingercount.interrupts import check
from fingercount.labeling.photo import PHOTO_RULE
from fingercount.training.count_eval import _photo_id, report, teacher_counts
from fingercount.training.count_heads import MEASURED_HEADS, POSE_HEADS, WHOLE_PHOTO_HEADS, choose_sure, photo_totals
from fingercount.training.leave_out import leave_out, photo_root, source_truth
from fingercount.training.trainer import TrainEnvironment
from fingercount.training.trainer import checkpoint_path as last_checkpoint

BASELINE = "baseline"
EXPERIMENT_SUFFIX = "-leave-out"  # leave_out's experiment: `<recipe's experiment>-leave-out`
CONFIG_TAG = "campaign.config_hash"  # on each MLflow run: a killed one is resumed only with the same settings


class Lever(StrictModel):
    note: str = Field("", description="what it changes and why, in a line")
    set: dict[str, Any] = Field(default_factory=dict, description="dotted training-config keys and their values")
    stages: Literal["last", "all"] = "last"


class Plan(StrictModel):
    stages: list[Path] = Field(min_length=1, description="the recipe's training configs, each from the one before")
    sources: list[str] = Field(min_length=1, description="the real sources left out, one at a time")
    seeds: list[int] = Field(min_length=1, description="split and training seeds")
    device: str = "auto"
    levers: dict[str, Lever] = Field(default_factory=lambda: {BASELINE: Lever()})
    results: Path = Field(description="one JSON file per finished run (committed)")
    checkpoints: Path = Field(description="earlier stages' best.pt, which later stages start from (committed)")
    work: Path = Path("data/leave-out")


def load_plan(path: Path) -> Plan:
    plan = load_config(path, Plan)
    if BASELINE not in plan.levers or plan.levers[BASELINE].set:
        raise ConfigError(f"{path}: levers must hold `{BASELINE}: {{}}`, the control arm every lever is judged against")
    base = load_training_config(plan.stages[-1]).model_dump(mode="json")
    for name, lever in plan.levers.items():
        for key in lever.set:
            try:
                set_key(json.loads(json.dumps(base)), key, None)
            except ConfigError as exc:
                raise ConfigError(f"{path}: lever {name}: {exc}") from None
    return plan


@dataclass(frozen=True)
class PlannedRun:
    lever: str  # whose settings the stage trains with (earlier stages of a `last` lever: the baseline's)
    source: str
    seed: int
    stage: int  # 1-based

    @property
    def key(self) -> str:
        return f"{self.lever}--{self.source}--seed{self.seed}--stage{self.stage}"


def planned_runs(plan: Plan) -> list[PlannedRun]:
    """Every run of the plan in the order they run: the baseline first, each run after the stage it starts from."""
    last = len(plan.stages)
    order = [BASELINE, *(name for name in plan.levers if name != BASELINE)]
    runs: list[PlannedRun] = []
    for name in order:
        for seed in plan.seeds:  # each source's first seed before any second: both sources show early
            for source in plan.sources:
                for stage in range(1, last + 1):
                    owner = name if stage == last or plan.levers[name].stages == "all" else BASELINE
                    run = PlannedRun(owner, source, seed, stage)
                    if run not in runs:
                        runs.append(run)
    return runs


def start_of(plan: Plan, run: PlannedRun) -> PlannedRun | None:
    """The earlier-stage run this one starts from."""
    if run.stage == 1:
        return None
    owner = run.lever if plan.levers[run.lever].stages == "all" else BASELINE
    return PlannedRun(owner, run.source, run.seed, run.stage - 1)


def stage_config(plan: Plan, run: PlannedRun) -> TrainingConfig:
    config = load_training_config(plan.stages[run.stage - 1]).model_dump(mode="json")
    lever = plan.levers[run.lever]
    if run.stage == len(plan.stages) or lever.stages == "all":
        for key, value in lever.set.items():
            config = set_key(config, key, value)
    config["device"] = plan.device
    return TrainingConfig.model_validate(config)


def result_path(plan: Plan, run: PlannedRun) -> Path:
    return plan.results / f"{run.key}.json"


def checkpoint_path(plan: Plan, run: PlannedRun) -> Path:
    return plan.checkpoints / f"{run.key}.pt"


def pending(plan: Plan) -> list[PlannedRun]:
    return [run for run in planned_runs(plan) if not result_path(plan, run).is_file()]


@contextlib.contextmanager
def one_runner(plan: Plan) -> Iterator[None]:
    """One campaign runner at a time (one training at a time on the machine's cores)."""
    plan.results.mkdir(parents=True, exist_ok=True)
    with open(plan.results / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = plan.results / ".lock"
            raise ConfigError(f"another campaign runner holds {held}; wait for it to finish") from None
        yield


def settle_stale_runs(plan: Plan, tracking_uri: str) -> list[str]:
    """End as KILLED the campaign's runs a killed runner left RUNNING (only one runner runs at a time,
    so any campaign run still RUNNING when a runner starts is a dead one's)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    names = {load_training_config(stage).mlflow.experiment_name + EXPERIMENT_SUFFIX for stage in plan.stages}
    keys = {run.key for run in planned_runs(plan)}
    settled = []
    for name in names:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            continue
        for found in client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'"):
            if found.info.run_name in keys:
                client.set_terminated(found.info.run_id, "KILLED")
                settled.append(found.info.run_id)
    return settled


def config_hash(config: TrainingConfig) -> str:
    """A planned run's settings, as its result and its MLflow run (`CONFIG_TAG`) record them."""
    dumped = config.model_dump(mode="json")
    return hashlib.sha256(json.dumps(dumped, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Attempt:
    """A killed attempt at a planned run whose training can go on from its last checkpoint."""

    run_id: str
    epochs: int  # the epochs it finished (its results.csv rows)
    minutes: float  # their training minutes, by Ultralytics' clock, over every attempt so far


def killed_attempt(plan: Plan, run: PlannedRun, env: TrainEnvironment) -> Attempt | None:
    """The latest KILLED MLflow run of this planned run, with these settings, that left a checkpoint
    here (none where the machine or the checkout is new: the run then starts again)."""
    from mlflow import MlflowClient

    config = stage_config(plan, run)
    experiment = config.mlflow.experiment_name + EXPERIMENT_SUFFIX
    client = MlflowClient(env.tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    query = (
        f"attributes.run_name = '{run.key}' AND attributes.status = 'KILLED'"
        f" AND tags.`{CONFIG_TAG}` = '{config_hash(config)}'"
    )
    for killed in client.search_runs([found.experiment_id], query, order_by=["attributes.start_time DESC"]):
        last = last_checkpoint(env.experiments_dir / experiment, killed.info.run_id)
        epochs, seconds = trained_epochs(last.parent.parent / "results.csv")
        if epochs and _readable(last):
            return Attempt(killed.info.run_id, epochs, seconds / 60)
    return None


def _readable(checkpoint: Path) -> bool:
    import torch

    try:
        torch.load(checkpoint, map_location="cpu", weights_only=False)  # the campaign's own file
    except Exception:  # missing, or cut short as its runner was killed outright: the run starts again
        return False
    return True


def trained_epochs(results_csv: Path) -> tuple[int, float]:
    """Epochs an Ultralytics training logged, and their seconds: its `time` column counts from each
    attempt's start, so the attempts are summed where it falls back."""
    if not results_csv.is_file():
        return 0, 0.0
    rows = list(csv.DictReader(results_csv.read_text().splitlines()))
    if not rows:
        return 0, 0.0
    times = [float(row["time"]) for row in rows]
    seconds = sum(t for t, after in zip(times, [*times[1:], 0.0], strict=True) if after < t)
    return max(int(float(row["epoch"])) for row in rows), seconds


def execute(plan: Plan, run: PlannedRun, env: TrainEnvironment, attempt: Attempt | None = None) -> dict[str, Any]:
    """Train one planned run and write its result (atomically: a killed run leaves none). `attempt`:
    a killed attempt at it (`killed_attempt`), whose training goes on from its last checkpoint."""
    before = start_of(plan, run)
    start = None
    if before is not None:
        start = checkpoint_path(plan, before)
        if not start.is_file():
            raise ConfigError(
                f"{run.key} starts from {before.key}, whose checkpoint {start} is missing: "
                f"delete {result_path(plan, before)} to train it again"
            )
    config = stage_config(plan, run)
    last = run.stage == len(plan.stages)
    started = time.time()
    digest = config_hash(config)
    env = TrainEnvironment(**{**env.__dict__, "run_name": run.key, "tags": {**env.tags, CONFIG_TAG: digest}})
    resume = attempt.run_id if attempt else None
    found = leave_out(config, run.source, run.seed, env, plan.work / run.key, start=start, boxes=last, resume=resume)
    if attempt is not None:  # the earlier attempts' epochs; their preparing and the epoch cut short are not counted
        found.minutes += attempt.minutes
    if not last:
        plan.checkpoints.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found.weights or "", checkpoint_path(plan, run))
    result = {
        "key": run.key, "lever": run.lever, "source": run.source, "seed": run.seed, "stage": run.stage,
        "final": last, "starts_from": before.key if before else config.model.weights,
        "settings": plan.levers[run.lever].set if last or plan.levers[run.lever].stages == "all" else {},
        "config_hash": digest,
        **({"resumed": {"from_epoch": attempt.epochs, "earlier_minutes": round(attempt.minutes, 2)}}
           if attempt else {}),
        "commit": _commit(), "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), "minutes": round(found.minutes, 2),
        **found.to_dict(),
        **({"heads": heads(found.boxes, found.teacher_photos, found.count_conf), "boxes": found.boxes,
            "teacher_photos": found.teacher_photos, "photo_rule": PHOTO_RULE} if last else {}),
    }  # fmt: skip
    check()  # a stop a library dropped while it counted: no result
    _write(result_path(plan, run), result)
    return result


def _write(path: Path, result: dict[str, Any]) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(partial, path)


def recount_photos(plan: Plan, progress: bool = False) -> list[Path]:
    """Final results whose whole photos were counted by another rule (`photo_rule`; none: before
    the second looks), counted again by today's: the landmark model's count of each left-out photo and the
    teacher's report. The detector's records stay as they were: every head is judged again from them.
    A result keeps the photos it counted, by the source's own labels: a new finger rule's label check
    would keep other photos of the source, of which the detector's records know nothing."""
    redone = []
    counted: dict[tuple[Path, ...], list[int]] = {}  # a source's photos are counted once for all its results
    for path in sorted(plan.results.glob("*.json")):
        found = json.loads(path.read_text())
        if "teacher_photos" not in found or found.get("photo_rule") == PHOTO_RULE:
            continue
        run = PlannedRun(found["lever"], found["source"], found["seed"], found["stage"])
        every = source_truth(load_data_config(stage_config(plan, run).dataset.config), run.source, checked=False)
        common = photo_root(list(every))
        by_id = {_photo_id(photo, common): photo for photo in every}
        if missing := set(found["teacher_photos"]) - set(by_id):
            raise ConfigError(
                f"{path}: {len(missing)} of its photos (e.g. {min(missing)}) are not among {run.source}'s photos "
                "here; cannot count them again"
            )
        ids = sorted(found["teacher_photos"])
        photos = [by_id[photo_id] for photo_id in ids]
        if tuple(photos) not in counted:
            counted[tuple(photos)] = teacher_counts(photos, progress=progress)
        counts = counted[tuple(photos)]
        found.update(
            teacher_photos=dict(zip(ids, counts, strict=True)),
            teacher=report([every[photo] for photo in photos], counts).to_dict(),
            photo_rule=PHOTO_RULE,
        )
        found["heads"] = result_heads(found)
        _write(path, found)
        redone.append(path)
    return redone


def heads(boxes: dict[str, Any], whole: dict[str, int], count_conf: float) -> dict[str, Any]:
    """Each count head on the left-out source, from a run's box records alone (a head added later is
    judged on every past run); the arbitrated one's threshold is chosen on the other sources' val
    photos. `whole`: the landmark model's total per left-out photo (WHOLE_PHOTO_HEADS need it)."""
    chooser = [record for name, records in boxes.items() if name != "left_out" for record in records.values()]
    sure = choose_sure([records for _, records in chooser], [truth for truth, _ in chooser], count_conf)
    photos = list(boxes["left_out"])
    truth = [boxes["left_out"][photo][0] for photo in photos]
    records = [boxes["left_out"][photo][1] for photo in photos]
    counted = {}
    for head in MEASURED_HEADS:
        if head in WHOLE_PHOTO_HEADS and not all(photo in whole for photo in photos):
            continue  # a result from before the whole-photo counts were recorded
        if head in POSE_HEADS and not _with_keypoints(records):
            continue  # a detector's records
        totals = photo_totals(records, count_conf, head, sure, [whole.get(photo, -1) for photo in photos])
        counted[head] = report(truth, totals).to_dict()
    for head in SURE_HEADS:  # each by the threshold chosen above
        if head in counted:
            counted[head]["sure"] = sure
    return counted


def _with_keypoints(records: list[list[Any]]) -> bool:
    """Records of a pose model: every box has the count from its keypoints."""
    found = [box for boxes in records for box in boxes]
    return bool(found) and all(len(box) > 3 for box in found)


def result_heads(found: dict[str, Any]) -> dict[str, Any]:
    """A final result's heads, judged again from its records (or as recorded where it kept none)."""
    if "boxes" not in found:
        return dict(found.get("heads", {}))
    return heads(found["boxes"], found.get("teacher_photos", {}), found["count_conf"])


def machine() -> dict[str, Any]:
    cpu = platform.machine()  # (platform.processor() would shell out to uname)
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = None
    with contextlib.suppress(Exception):
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu}


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "configs"], capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty.stdout.strip() else "")


def commit_result(plan: Plan, run: PlannedRun, line: str) -> None:
    """Commit this run's result (and checkpoint) alone, whatever else is staged."""
    commit_paths([p for p in (result_path(plan, run), checkpoint_path(plan, run)) if p.is_file()], line)


def commit_paths(files: list[Path], line: str) -> None:
    """Commit these files alone, whatever else is staged."""
    paths = [str(p) for p in files]
    for _ in range(5):  # another git command may hold the index for a moment
        added = subprocess.run(["git", "add", "--", *paths], capture_output=True, text=True)
        commit = ["git", "commit", "-q", "-m", f"campaign: {line}", "--", *paths]
        done = added.returncode == 0 and subprocess.run(commit, capture_output=True).returncode == 0
        if done:
            return
        time.sleep(2)
    raise ConfigError(f"could not commit {', '.join(paths)}: {added.stderr.strip()}")


def summary_line(result: dict[str, Any]) -> str:
    line = f"{result['key']}: {result['photos']} photos, model {result['model']['accuracy']:.1%}"
    if result.get("heads"):
        line += " (" + ", ".join(f"{h} {c['accuracy']:.1%}" for h, c in result["heads"].items()) + ")"
    if result.get("teacher"):
        line += f", teacher {result['teacher']['accuracy']:.1%}"
    return line + f", {result['minutes']:.0f} min"


# --------------------------------------------------------------------------- the report


def load_results(plan: Plan) -> dict[str, dict[str, Any]]:
    """Every result file, its heads judged again from its records."""
    results = {path.stem: json.loads(path.read_text()) for path in sorted(plan.results.glob("*.json"))}
    for found in results.values():
        if found.get("final"):
            found["heads"] = result_heads(found)
    return results


def report_table(plan: Plan) -> str:
    """Markdown: per lever and head, each left-out source's mean and spread over seeds, no-hand
    share, the teacher, and the cost (training minutes of every stage the arm needs)."""
    results = load_results(plan)
    done = sum(run.key in results for run in planned_runs(plan))
    lines = [
        f"{done} of {len(planned_runs(plan))} runs done.",
        "",
        "| lever | head | " + " | ".join(f"{s}: mean (spread, seeds) | {s}: no hand" for s in plan.sources)
        + " | minutes a run |",
        "|---|---|" + "---|---|" * len(plan.sources) + "---|",
    ]  # fmt: skip
    teacher: dict[str, list[float]] = {}
    for found in results.values():
        # Once per (source, seed), from the results that count whole photos by today's rule.
        if found.get("teacher") and found["seed"] in plan.seeds and found.get("final") and found["lever"] == BASELINE:
            teacher.setdefault(found["source"], []).append(found["teacher"]["accuracy"])
    for lever, stage in sorted({(r.lever, r.stage) for r in planned_runs(plan) if r.stage < len(plan.stages)}):
        cells = []
        for source in plan.sources:
            earlier = [results.get(PlannedRun(lever, source, seed, stage).key) for seed in plan.seeds]
            cells.append(_cell([found["model"] for found in earlier if found]))
        if any(cell != "— | —" for cell in cells):
            lines.append(f"| {lever}, stage {stage} of {len(plan.stages)} | classes | " + " | ".join(cells) + " | — |")
    for lever in plan.levers:
        for head in MEASURED_HEADS:
            cells, minutes, any_run = [], [], False
            for source in plan.sources:
                finals = []
                for seed in plan.seeds:
                    final = PlannedRun(lever, source, seed, len(plan.stages))
                    if final.key not in results:
                        continue
                    found = results[final.key]
                    finals.append(found["heads"][head] if head in found.get("heads", {}) else None)
                    minutes.append(_arm_minutes(plan, final, results))
                counted = [f for f in finals if f is not None]
                any_run = any_run or bool(counted)
                cells.append(_cell(counted))
            if any_run:
                cost = f"{statistics.fmean(m for m in minutes if m is not None):.0f}" if any(minutes) else "—"
                lines.append(f"| {lever} | {head} | " + " | ".join(cells) + f" | {cost} |")
    lines.append(
        "| teacher | landmarks on the photo | "
        + " | ".join(f"{statistics.fmean(teacher[s]):.1%} | — " if s in teacher else "— | — " for s in plan.sources)
        + "| — |"
    )
    return "\n".join(lines)


def _cell(counted: list[dict[str, Any]]) -> str:
    if not counted:
        return "— | —"
    accuracy = [c["accuracy"] for c in counted]
    spread = max(accuracy) - min(accuracy)
    no_hand = statistics.fmean(c["no_hand"] for c in counted)
    return f"**{statistics.fmean(accuracy):.1%}** ({spread:.1%}, {len(counted)}) | {no_hand:.1%}"


def _arm_minutes(plan: Plan, run: PlannedRun, results: dict[str, dict[str, Any]]) -> float | None:
    total = 0.0
    at: PlannedRun | None = run
    while at is not None:
        if at.key not in results:
            return None
        total += results[at.key]["minutes"]
        at = start_of(plan, at)
    return total


def verdicts(plan: Plan) -> list[str]:
    """The written rule against the control (the baseline's class head): every head counted on the
    baseline's runs, and each lever's class head. One wins if, on every left-out source, its mean over
    all seeds beats the control's by more than the larger of the two spreads; one source lost or
    level beyond that, and it does not."""
    results = load_results(plan)
    judged = [(BASELINE, head) for head in MEASURED_HEADS if head != "classes"]
    judged += [(lever, "classes") for lever in plan.levers if lever != BASELINE]
    return [line for lever, head in judged if (line := _verdict(plan, results, lever, head, "classes"))]


def verdicts_by_head(plan: Plan) -> list[str]:
    """The same rule for each lever under each other head, against the baseline counted by that head:
    a lever is judged with the head that would serve it. (Against the class control, a lever under a
    landmark head wins whenever the head does, which says nothing of the lever.)"""
    results = load_results(plan)
    return [
        line
        for lever in plan.levers
        if lever != BASELINE
        for head in MEASURED_HEADS
        if head != "classes" and (line := _verdict(plan, results, lever, head, head))
    ]


def _verdict(plan: Plan, results: dict[str, dict[str, Any]], lever: str, head: str, control_head: str) -> str | None:
    """One line: (lever, head) against the baseline under control_head, per left-out source; None
    where neither arm has run on any source."""
    last = len(plan.stages)

    def arm(lever: str, head: str, source: str) -> list[float]:
        finals = [results.get(PlannedRun(lever, source, seed, last).key) for seed in plan.seeds]
        return [f["heads"][head]["accuracy"] for f in finals if f and head in f.get("heads", {})]

    parts, outcomes = [], []
    for source in plan.sources:
        ours, control = arm(lever, head, source), arm(BASELINE, control_head, source)
        if not ours or not control:
            parts.append(f"{source}: not run")
            outcomes.append("open")
            continue
        gain = statistics.fmean(ours) - statistics.fmean(control)
        noise = max(max(ours) - min(ours), max(control) - min(control))
        complete = len(ours) == len(control) == len(plan.seeds)
        outcome = "win" if gain > noise else "lose" if gain < -noise else "level"
        outcomes.append(outcome if complete else "open")
        seeds = "" if complete else f", {min(len(ours), len(control))} of {len(plan.seeds)} seeds"
        parts.append(f"{source} {gain * 100:+.1f} points (spread {noise * 100:.1f}{seeds})")
    if all(part.endswith("not run") for part in parts):
        return None
    if all(outcome == "win" for outcome in outcomes):
        verdict = "**wins**"
    elif any(outcome in ("lose", "level") for outcome in outcomes):
        verdict = "does not win"
    else:
        verdict = "open"
    return f"- {lever} / {head}: {verdict} — " + "; ".join(parts)


def card_leave_out(plan: Plan, heads: list[str]) -> dict[str, Any]:
    """The campaign's figures a checkpoint's card keeps (`served_by_demo.leave_out`): the baseline's
    final runs counted by each head (per left-out source: mean and spread over seeds, and how many),
    the teacher on the same photos, and the whole-photo rule they were counted by. Rounded to 4
    places, as cards are."""
    results = load_results(plan)
    finals = {
        source: [
            f for seed in plan.seeds if (f := results.get(PlannedRun(BASELINE, source, seed, len(plan.stages)).key))
        ]
        for source in plan.sources
    }
    accuracy: dict[str, Any] = {}
    for head in heads:
        if unknown := [source for source, found in finals.items() if any(head not in f["heads"] for f in found)]:
            raise ConfigError(f"no {head!r} head in the baseline's results on {', '.join(unknown)}: {MEASURED_HEADS}")
        values = {source: [f["heads"][head]["accuracy"] for f in found] for source, found in finals.items() if found}
        accuracy[head] = {
            source: {"mean": round(statistics.fmean(v), 4), "spread": round(max(v) - min(v), 4), "seeds": len(v)}
            for source, v in values.items()
        }
    accuracy["teacher"] = {
        source: round(statistics.fmean(f["teacher"]["accuracy"] for f in found), 4)
        for source, found in finals.items()
        if found
    }
    rules = {f.get("photo_rule") for found in finals.values() for f in found}
    return {
        "what": f"the recipe trained without one source, {len(plan.seeds)} seeds; "
        "every photo of that source counted as served",
        "accuracy": accuracy,
        "photo_rule": rules.pop() if len(rules) == 1 else sorted(map(str, rules)),
    }


def per_count_table(plan: Plan, head: str = "classes") -> str:
    """Markdown: per lever and left-out source, the accuracy on each true count (mean over seeds)."""
    results = load_results(plan)
    lines = ["| lever | source | " + " | ".join(str(c) for c in range(6)) + " |", "|---|---|" + "---|" * 6]
    for lever in plan.levers:
        for source in plan.sources:
            finals = [results.get(PlannedRun(lever, source, s, len(plan.stages)).key) for s in plan.seeds]
            counted = [f["heads"][head]["per_count"] for f in finals if f and "heads" in f]
            if not counted:
                continue
            cells = []
            for count in map(str, range(6)):
                values = [c[count] for c in counted if count in c]
                cells.append(f"{statistics.fmean(values):.0%}" if values else "—")
            lines.append(f"| {lever} | {source} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
