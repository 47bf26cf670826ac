"""The promotion gate on a real registry: two versions counted on the same held-out photos; a tie
keeps the serving version and says why, a real gain is promoted."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from fingercount.registry import Registry
from tests.conftest import run_cli

pytestmark = pytest.mark.slow
NAME = "gate-model"


def version_counting(client: MlflowClient, right: list[bool]) -> str:
    """A run that counted 40 held-out photos (right where `right` says) and its registered version."""
    experiment = client.get_experiment_by_name("gate") or client.get_experiment(client.create_experiment("gate"))
    run = client.create_run(experiment.experiment_id)
    photos = {f"people/{i}.jpg": [2, 2 if ok else 3] for i, ok in enumerate(right)}
    client.log_dict(run.info.run_id, {"people-heldout": {"model": {"photos": photos}}}, "evaluation/sets_report.json")
    client.log_metric(run.info.run_id, "test/count_accuracy", sum(right) / len(right))
    client.set_terminated(run.info.run_id)
    return str(client.create_model_version(NAME, f"runs:/{run.info.run_id}/model", run.info.run_id).version)


def test_a_tie_keeps_the_serving_version_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(uri, registry_uri=uri)  # not the process-wide registry another test set
    client.create_registered_model(NAME)
    registry = Registry(uri, tmp_path / "cache")
    serving = version_counting(client, [True] * 28 + [False] * 12)
    assert registry.promote(NAME, serving, "production").promoted
    tie = version_counting(client, [False] * 4 + [True] * 24 + [True] * 4 + [False] * 8)  # 4 won, 4 lost
    decision = registry.promote(NAME, tie, "production")
    assert not decision.promoted
    assert decision.reason.startswith("not better (a tie): McNemar on 40 held-out photos of people-heldout")
    assert str(registry.resolve(NAME, alias="production").version) == serving
    better = version_counting(client, [True] * 28 + [True] * 12)  # 12 more right, none lost
    assert registry.promote(NAME, better, "production").promoted
    code, printed, _ = run_cli(["models", "list"], monkeypatch, capsys)
    assert code == 0
    assert "gate @production: kept by the mcnemar test: not better (a tie)" in printed
    assert "gate @production: promoted by the mcnemar test: better beyond noise" in printed
