from __future__ import annotations

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
