"""Experiments and their runs, summarised for the API and the dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any

MAIN_PARAMS = (
    "model.architecture",
    "dataset.img_size",
    "training.epochs",
    "training.batch_size",
    "training.lr0",
    "training.optimizer",
    "dataset.content_hash",
)


def list_experiments(client: Any, max_runs: int = 200) -> list[dict[str, Any]]:
    """Experiments with their runs, in the seed's shape (`experiment_name`, `run_count`, each run's
    `start_time` as ISO text, every param and tag, `available_weights`) and ours beside it (`name`,
    `start_time_ms`, `end_time`, `main_params`, `error`)."""
    from mlflow.entities import ViewType

    found = []
    for experiment in client.search_experiments(view_type=ViewType.ACTIVE_ONLY):
        runs = client.search_runs([experiment.experiment_id], max_results=max_runs, order_by=["start_time DESC"])
        found.append(
            {
                "experiment_id": experiment.experiment_id,
                "experiment_name": experiment.name,
                "name": experiment.name,
                "run_count": len(runs),
                "runs": [_run_dict(client, run) for run in runs],
            }
        )
    return found


def _run_dict(client: Any, run: Any) -> dict[str, Any]:
    params = dict(run.data.params)
    start = run.info.start_time
    return {
        "run_id": run.info.run_id,
        "run_name": run.info.run_name or run.data.tags.get("mlflow.runName", "Unnamed"),
        "experiment_id": run.info.experiment_id,
        "status": run.info.status,
        "start_time": None if start is None else datetime.fromtimestamp(start / 1000).isoformat(),
        "start_time_ms": start,
        "end_time": run.info.end_time,
        "metrics": dict(run.data.metrics),
        "params": {**params, "model_architecture": params.get("model.architecture", "unknown")},  # + the seed's name
        "main_params": {key: params[key] for key in MAIN_PARAMS if key in params},
        "tags": dict(run.data.tags),
        "available_weights": available_weights(client, run.info.run_id),
        "error": run.data.tags.get("error"),
    }


def available_weights(client: Any, run_id: str) -> list[str]:
    """The weight files a run logged (`weights/best.pt`, `weights/last.pt`), listed, not downloaded."""
    try:
        listed = client.list_artifacts(run_id, "weights")
    except Exception:  # an artifact store that cannot list: no weights to offer
        return []
    return sorted(item.path for item in listed if not item.is_dir and item.path.endswith(".pt"))


def version_for_run_tag(client: Any, experiment: str, tag: str, value: str) -> str | None:
    """The registered version made by the newest finished run tagged `tag=value`, if any."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs(
        [found.experiment_id],
        f"tags.`{tag}` = '{value}' and attributes.status = 'FINISHED'",
        order_by=["start_time DESC"],
    )
    for run in runs:
        versions = client.search_model_versions(f"run_id = '{run.info.run_id}'")
        if versions:
            return str(versions[0].version)
    return None


def end_run_if_running(client: Any, run_id: str, status: str, error: str) -> bool:
    """End a run its process could not end (killed); True if it was still RUNNING."""
    run = client.get_run(run_id)
    if run.info.status != "RUNNING":
        return False
    client.set_tag(run_id, "error", error[:5000])
    client.set_terminated(run_id, status=status)
    return True
