"""`fingercount tune`: a Ray Tune sweep over a training config's keys.

One parent MLflow run; each trial is a nested run made by the usual `train()` (params, per-epoch
metrics, package, evaluation). ASHA stops trials whose per-epoch metric falls behind; the best
finished trial by the selection metric (test count accuracy by default) is registered and put
through the usual gate. Ray runs locally unless `RAY_ADDRESS` names a cluster; trials then run
where the cluster puts them, so the working folder must be shared (same machine or a shared disk).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fingercount.config import TrainingConfig, load_config, set_key
from fingercount.errors import ConfigError
from fingercount.registry.client import Registry
from fingercount.training import tracking
from fingercount.training.trainer import TrainEnvironment, prepare_dataset, promote, register, train

SAMPLERS = ("choice", "grid", "uniform", "loguniform", "randint")


class Scheduler(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["asha", "none"] = "asha"
    metric: str = Field(default="mAP50-95", description="a per-epoch metric the run logs (mAP50-95, val_cls_loss…)")
    mode: Literal["max", "min"] = "max"
    grace_period: int = Field(default=1, ge=1, description="epochs every trial gets before it can be stopped")
    reduction_factor: float = Field(default=2.0, gt=1)


class TuneSpace(BaseModel):
    """The `--space` file: which training-config keys vary, how, and how trials are judged."""

    model_config = ConfigDict(extra="forbid")

    space: dict[str, Any] = Field(
        description="dotted config key → a value, or {choice|grid|uniform|loguniform|randint: …}"
    )
    trials: int = Field(default=4, ge=1, description="samples (each grid point is tried this many times)")
    select: str = Field(default="test/count_accuracy", description="the evaluation metric that picks the best trial")
    scheduler: Scheduler = Scheduler()
    cpus_per_trial: float = Field(default=1, gt=0)
    gpus_per_trial: float = Field(default=0, ge=0)
    max_concurrent: int | None = Field(default=None, ge=1, description="trials at once (default: as resources allow)")


@dataclasses.dataclass
class Trial:
    trial_id: str
    params: dict[str, Any]
    run_id: str | None
    status: str  # completed, stopped early at epoch N, failed: …
    epochs: int
    selected: float | None


@dataclasses.dataclass
class TuneResult:
    parent_run_id: str
    trials: list[Trial]
    best: Trial | None
    model_version: str | None = None
    promotion: dict[str, Any] | None = None


def load_space(path: Path, config: TrainingConfig) -> TuneSpace:
    space = load_config(path, TuneSpace)
    base = config.model_dump(mode="json")
    for key, value in space.space.items():
        if isinstance(value, dict) and (len(value) != 1 or next(iter(value)) not in SAMPLERS):
            raise ConfigError(f"{path}: {key} must be a value or one of {', '.join(SAMPLERS)}: {value}")
        set_key(dict(base), key, None)  # the key must exist in the training config
    return space


def trial_config(base: dict[str, Any], params: dict[str, Any], threads: int) -> TrainingConfig:
    config: dict[str, Any] = json.loads(json.dumps(base))
    for key, value in params.items():
        config = set_key(config, key, value)
    config["training"]["threads"] = threads
    config["mlflow"]["auto_register"] = False  # only the best trial is registered, by the sweep
    return TrainingConfig.model_validate(config)


def _param_space(space: TuneSpace) -> dict[str, Any]:
    from ray import tune

    samplers: dict[str, Callable[[Any], Any]] = {
        "choice": tune.choice, "grid": tune.grid_search, "uniform": lambda v: tune.uniform(*v),
        "loguniform": lambda v: tune.loguniform(*v), "randint": lambda v: tune.randint(*v),
    }  # fmt: skip
    params = {}
    for key, value in space.space.items():
        if isinstance(value, dict):
            kind, argument = next(iter(value.items()))
            params[key] = samplers[kind](argument)
        else:
            params[key] = value
    return params


def _run_trial(params: dict[str, Any], *, base: dict[str, Any], env: TrainEnvironment, prepared: Any,
               parent_run_id: str, workdir: str, threads: int) -> None:  # fmt: skip
    """One trial, in a Ray worker: `train()` in a nested run, each epoch reported to the scheduler."""
    from ray import tune

    os.chdir(workdir)  # the configs' relative paths (a cluster's workers start elsewhere)
    from mlflow import active_run

    context = tune.get_context()
    last: dict[str, float] = {}  # the latest epoch's metrics: the final report carries the scheduler's too

    def report(epoch: int, metrics: dict[str, float]) -> None:
        last.update(metrics)
        run = active_run()
        tune.report({**metrics, "epoch": epoch, "run_id": run.info.run_id if run else ""})

    trial_env = dataclasses.replace(
        env, on_epoch=report, parent_run_id=parent_run_id, run_name=f"trial-{context.get_trial_id()}", progress=False
    )
    config = trial_config(base, params, threads)
    result = train(config, trial_env, prepared=prepared, evaluate=True)
    assert result.evaluation is not None, "train() evaluates when asked to"
    assert result.package is not None, "train() packages before it evaluates"
    final = {f"final/{k}": v for k, v in result.evaluation.metrics.items()}
    ids = {"epoch": config.training.epochs, "run_id": result.run_id, "package": str(result.package.root)}
    tune.report({**last, **final, **ids})


def tune_sweep(config: TrainingConfig, space: TuneSpace, env: TrainEnvironment, space_path: Path) -> TuneResult:
    address = os.environ.get("RAY_ADDRESS")
    if address and "RAY_AUTH_MODE" not in os.environ and (Path.home() / ".ray" / "auth_token").is_file():
        # `ray start` turns token authentication on and leaves the token here; a joining driver
        # presents it only in token mode, which Ray reads when it is imported.
        os.environ["RAY_AUTH_MODE"] = "token"
    try:
        import ray
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    except ImportError:
        raise ConfigError("Ray Tune is not installed: pip install 'fingercount[tune]'") from None

    registry = Registry(env.tracking_uri, env.model_cache).check()
    prepared = prepare_dataset(config, env.progress)  # once, before the trials share it
    prepared = dataclasses.replace(prepared, out=prepared.out.resolve())
    env = dataclasses.replace(
        env, experiments_dir=env.experiments_dir.resolve(), model_cache=Path(env.model_cache).resolve(), report=None
    )
    epochs = max([config.training.epochs, *_epoch_choices(space)])
    scheduler: Any = FIFOScheduler()
    if space.scheduler.type == "asha":
        scheduler = ASHAScheduler(
            # max_t past the last epoch: reaching it would stop a trial before its evaluation.
            time_attr="epoch", max_t=epochs + 1, grace_period=space.scheduler.grace_period,
            reduction_factor=space.scheduler.reduction_factor,
        )  # fmt: skip
    started_here = _start_ray()
    name = f"tune-{time.strftime('%Y%m%d-%H%M%S')}"
    tags = {"tune.space": str(space_path), "tune.scheduler": space.scheduler.type}
    with tracking.tracked_run(
        env.tracking_uri, config.mlflow.experiment_name, name, tags, env.artifact_location
    ) as run:
        import mlflow

        parent = run.info.run_id
        mlflow.log_dict(space.model_dump(mode="json"), "tune/space.json")
        try:
            trainable = tune.with_parameters(
                _run_trial, base=config.model_dump(mode="json"), env=env, prepared=prepared, parent_run_id=parent,
                workdir=str(Path.cwd()), threads=max(1, int(space.cpus_per_trial)),
            )  # fmt: skip
            tuner = tune.Tuner(
                tune.with_resources(trainable, {"cpu": space.cpus_per_trial, "gpu": space.gpus_per_trial}),
                param_space=_param_space(space),
                tune_config=tune.TuneConfig(
                    metric=space.scheduler.metric, mode=space.scheduler.mode, scheduler=scheduler,
                    num_samples=space.trials, max_concurrent_trials=space.max_concurrent,
                ),
                run_config=tune.RunConfig(
                    name=name, storage_path=str(env.experiments_dir / "ray"), verbose=1 if env.progress else 0
                ),
            )  # fmt: skip
            grid = tuner.fit()
        finally:
            if started_here:
                ray.shutdown()
        results = [grid[i] for i in range(len(grid))]
        trials = [_trial(result, space.select) for result in results]
        _settle_runs(env.tracking_uri, trials)
        mlflow.log_dict([dataclasses.asdict(t) for t in trials], "tune/trials.json")
        finished = [t for t in trials if t.status == "completed" and t.selected is not None]
        best = max(finished, key=lambda t: t.selected or 0.0) if finished else None
        outcome = TuneResult(parent, trials, best)
        mlflow.log_metrics({"tune/trials": len(trials), "tune/completed": len(finished)})
        if best is None:
            return outcome
        mlflow.set_tag("tune.best_run", best.run_id or "")
        mlflow.log_metric(f"best/{space.select}", best.selected or 0.0)
        if config.mlflow.auto_register:
            outcome.model_version, outcome.promotion = _register_best(registry, config, best, results)
            mlflow.set_tag("tune.best_version", outcome.model_version)
    return outcome


def _start_ray() -> bool:
    """Join the cluster RAY_ADDRESS names, or start a local Ray; True when this process started it."""
    import ray

    address = os.environ.get("RAY_ADDRESS")
    started_here = not ray.is_initialized() and not address
    try:
        ray.init(
            runtime_env={"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0"}}, include_dashboard=False,
            log_to_driver=False, configure_logging=False, ignore_reinit_error=True,
        )  # fmt: skip
    except ConnectionError as exc:
        raise ConfigError(
            f"cannot reach the Ray cluster at RAY_ADDRESS={address} ({exc}): start it (ray start --head) "
            "or unset RAY_ADDRESS for a local Ray"
        ) from None
    return started_here


def _epoch_choices(space: TuneSpace) -> list[int]:
    value = space.space.get("training.epochs")
    if isinstance(value, dict):
        argument = next(iter(value.values()))
        return [int(v) for v in argument] if isinstance(argument, list) else []
    return [int(value)] if value is not None else []


def _trial(result: Any, select: str) -> Trial:
    metrics = result.metrics or {}
    params = dict(result.config or {})
    epochs = int(metrics.get("epoch", 0))
    if result.error is not None:
        status = f"failed: {str(result.error).strip().splitlines()[-1][:300]}"
    elif f"final/{select}" in metrics:
        status = "completed"
    else:
        status = f"stopped early at epoch {epochs} (ASHA)"
    trial_id = str(metrics.get("trial_id") or str(getattr(result, "path", "")).rsplit("/", 1)[-1])
    selected = metrics.get(f"final/{select}")
    return Trial(trial_id, params, metrics.get("run_id") or None, status, epochs, selected)


def _settle_runs(tracking_uri: str, trials: list[Trial]) -> None:
    """Each trial's run ends with its outcome (a stopped trial's worker may be gone before it could)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    for trial in trials:
        if not trial.run_id:
            continue
        client.set_tag(trial.run_id, "tune.status", trial.status)
        status = "FINISHED" if trial.status == "completed" else "KILLED" if "stopped" in trial.status else "FAILED"
        if client.get_run(trial.run_id).info.status != status:
            client.set_terminated(trial.run_id, status)


def _register_best(registry: Registry, config: TrainingConfig, best: Trial, results: list[Any]) -> tuple[str, Any]:
    """The best trial's package as a new version (made by its run), then the usual gate."""
    import mlflow

    from fingercount.registry.package import ModelPackage
    from fingercount.training.evaluate import EvalReport

    final = next(r.metrics for r in results if r.metrics and r.metrics.get("run_id") == best.run_id)
    package = ModelPackage.open(Path(final["package"]))
    metrics = {k.removeprefix("final/"): v for k, v in final.items() if k.startswith("final/")}
    count_conf = float(metrics.get("test/count_conf", package.metadata.count_conf))
    report = EvalReport(metrics=metrics, count_conf=count_conf, confusion={})
    with mlflow.start_run(run_id=best.run_id, nested=True):
        version = register(registry, package, report, config)
    return version, promote(registry, config, version)
