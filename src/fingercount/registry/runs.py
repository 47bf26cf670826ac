"""Experiments and their runs, summarised for the API and the dashboard."""

from __future__ import annotations

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
    from mlflow.entities import ViewType

    found = []
    for experiment in client.search_experiments(view_type=ViewType.ACTIVE_ONLY):
        runs = client.search_runs([experiment.experiment_id], max_results=max_runs, order_by=["start_time DESC"])
        found.append(
            {
                "experiment_id": experiment.experiment_id,
                "name": experiment.name,
                "runs": [
                    {
                        "run_id": run.info.run_id,
                        "run_name": run.info.run_name,
                        "status": run.info.status,
                        "start_time": run.info.start_time,
                        "end_time": run.info.end_time,
                        "metrics": dict(run.data.metrics),
                        "params": {key: run.data.params[key] for key in MAIN_PARAMS if key in run.data.params},
                        "error": run.data.tags.get("error"),
                    }
                    for run in runs
                ],
            }
        )
    return found


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
