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


def list_experiments(max_runs: int = 200, uri: str | None = None) -> list[dict[str, Any]]:
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri=uri)
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
