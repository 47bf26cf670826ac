from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from fingercount.errors import TrackingUnavailableError
from fingercount.processes import free_port
from fingercount.registry import Registry
from fingercount.training.tracking import EPOCH_METRICS, epoch_metrics, flatten


def test_unreachable_server_is_a_clear_error() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TrackingUnavailableError, match=f"MLflow tracking server {uri} is not reachable"):
        Registry(uri).check()


def test_flatten() -> None:
    assert flatten("", {"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}


LOSSES = {"box": 1.0, "cls": 2.0, "dfl": 3.0}


def test_epoch_metrics_use_one_naming_scheme() -> None:
    trainer = SimpleNamespace(
        tloss=None,
        label_loss_items=lambda loss, prefix: {f"{prefix}/{k}_loss": v for k, v in LOSSES.items()},
        metrics={
            "metrics/precision(B)": 0.5, "metrics/recall(B)": 0.25, "metrics/mAP50(B)": 0.4,
            "metrics/mAP50-95(B)": 0.3, "val/box_loss": 1.5, "val/cls_loss": 2.5, "val/dfl_loss": 3.5,
        },
        lr={"lr/pg0": 0.01, "lr/pg1": 0.01},
    )  # fmt: skip
    metrics = epoch_metrics(trainer)
    assert set(metrics) == set(EPOCH_METRICS)
    assert metrics["F1"] == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert metrics["mAP50-95"] == 0.3
    assert metrics["train_cls_loss"] == 2.0
    assert metrics["lr"] == 0.01


# What runs in each process of Ultralytics' multi-GPU training: the callbacks, pickled with
# cloudpickle as Ultralytics does (utils/dist.py), then called under that rank's RANK variable.
RANK_CHILD = """
import os, sys, types, cloudpickle
callbacks = cloudpickle.loads(open(sys.argv[1], "rb").read())
losses = {"box": 1.0, "cls": 2.0, "dfl": 3.0}
trainer = types.SimpleNamespace(
    epoch=0, epochs=2, tloss=None, metrics={"metrics/mAP50(B)": 0.4}, lr={"lr/pg0": 0.01},
    label_loss_items=lambda loss, prefix: {f"{prefix}/{k}_loss": v for k, v in losses.items()},
    callbacks=callbacks,
)
for callback in callbacks["on_pretrain_routine_start"]:
    callback(trainer)
for callback in callbacks["on_fit_epoch_end"]:
    callback(trainer)
print(sorted(c.__module__.rsplit(".", 1)[-1] for event in callbacks.values() for c in event))
"""


@pytest.mark.parametrize(("rank", "logged"), [("1", False), ("0", True), (None, True)])
def test_only_rank_zero_logs(tmp_path: Path, rank: str | None, logged: bool) -> None:
    import os
    import subprocess
    import sys

    import cloudpickle
    from mlflow import MlflowClient
    from ultralytics.utils.callbacks.base import get_default_callbacks
    from ultralytics.utils.callbacks.mlflow import callbacks as ultralytics_mlflow

    from fingercount.training.tracking import EpochLogger
    from fingercount.training.yolo import EpochProgress, WithoutIntegrations

    uri = f"sqlite:///{tmp_path}/mlruns.db"
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("ranks")).info.run_id
    callbacks = get_default_callbacks()
    callbacks["on_pretrain_routine_start"].insert(0, WithoutIntegrations())
    for event, callback in ultralytics_mlflow.items():  # as a user's settings file would enable it
        callbacks[event].append(callback)
    callbacks["on_fit_epoch_end"] += [EpochLogger(run, uri), EpochProgress(2, enabled=False)]
    pickled = tmp_path / "callbacks.pkl"
    pickled.write_bytes(cloudpickle.dumps(callbacks))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
    if rank is not None:
        env.update(RANK=rank, LOCAL_RANK=rank, WORLD_SIZE="2")
    child = subprocess.run(
        [sys.executable, "-c", RANK_CHILD, str(pickled)], env=env, capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, child.stderr
    assert "mlflow" not in child.stdout  # Ultralytics' own MLflow callback is gone in every process
    assert [r.info.run_id for r in client.search_runs([client.get_run(run).info.experiment_id])] == [run]
    history = client.get_metric_history(run, "mAP50")
    assert [m.step for m in history] == ([1] if logged else [])
