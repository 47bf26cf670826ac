"""A count head end to end: the package records it, `/predict` and the WebSocket answer exactly what
evaluation measured on the same real photos, `/models/current` names it, every hand says how it was
counted, `/monitor` says its agreement is no accuracy, and the dashboard names the head."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from fingercount.config import EvalSetConfig, EvaluationConfig
from fingercount.registry.package import ModelPackage
from fingercount.training.trainer import TrainResult, train
from tests.conftest import count_folders, run_cli
from tests.e2e.conftest import ConsoleLog, screenshot
from tests.workspace import Workspace, running_server, serving_settings, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MODEL = "count-head"  # a registered model of its own: the shared one's version numbers stay as they are


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory, real_hands: Path) -> Path:
    """Count folders of real photos, 3 of each count."""
    return count_folders(tmp_path_factory.mktemp("counted"), per_count=3)


@pytest.fixture(scope="module")
def headed(workspace: Workspace, counted: Path) -> TrainResult:
    """The shipped checkpoint registered as it is, counting with landmarks and the whole frame."""
    config = workspace.config(epochs=0)
    config = config.model_copy(
        update={
            "model": config.model.model_copy(update={"weights": "fingercount-hands-n160-balanced"}),
            "dataset": config.dataset.model_copy(update={"img_size": 160}),
            "evaluation": EvaluationConfig(sets={"real": EvalSetConfig(path=counted)}, count_head="landmarks+photo"),
            "mlflow": config.mlflow.model_copy(update={"registered_model_name": MODEL, "auto_promote_stage": None}),
        }
    )
    result = train(config, workspace.env())
    assert result.evaluation is not None
    return result


@pytest.fixture(scope="module")
def server(workspace: Workspace, headed: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workspace.registry().set_alias(MODEL, "headed", str(headed.model_version))
    settings = serving_settings(workspace, tmp_path_factory.mktemp("serve"), MODEL_NAME=MODEL, MODEL_ALIAS="headed")
    with running_server(settings) as base:
        wait_for(lambda: httpx.get(f"{base}/health").json()["model_loaded"], timeout=120)
        yield base


def test_the_package_records_its_head(workspace: Workspace, headed: TrainResult) -> None:
    found = workspace.registry().resolve(MODEL, version=str(headed.model_version))
    package = workspace.registry().fetch(MODEL, str(found.version), found)
    assert package.metadata.count_head == "landmarks+photo"
    assert ModelPackage.open(package.root).metadata.count_head == "landmarks+photo"


def test_served_exactly_as_evaluated(server: str, headed: TrainResult, counted: Path) -> None:
    assert headed.evaluation is not None
    evaluated = headed.evaluation.sets["real"]["model"]["photos"]  # photo -> [true, predicted]
    assert len(evaluated) == 15
    how = set()
    for photo, (_, predicted) in evaluated.items():
        sent = {"file": (Path(photo).name, (counted / photo).read_bytes())}
        answer = httpx.post(f"{server}/predict", files=sent, timeout=60).json()
        assert answer["finger_count"] == max(predicted, 0), photo
        how |= {p["counted_by"] for p in answer["predictions"]}
    assert "landmarks" in how  # the head counted, not the detector's class alone
    # The WebSocket runs the same prediction.
    with connect(server.replace("http://", "ws://") + "/ws/predict", open_timeout=10, max_size=None) as ws:
        for photo, (_, predicted) in list(evaluated.items())[:5]:
            ws.send((counted / photo).read_bytes())
            assert json.loads(ws.recv(timeout=60))["finger_count"] == max(predicted, 0)


def test_eval_on_the_cli_counts_with_the_head_too(
    workspace: Workspace,
    headed: TrainResult,
    counted: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert headed.evaluation is not None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", workspace.tracking_uri)
    out = workspace.root / "headed-counts.json"
    model = f"models:/{MODEL}/{headed.model_version}"
    conf = str(headed.evaluation.count_conf)
    code, _, err = run_cli(
        ["eval", "-m", model, "--counts", str(counted), "--conf", conf, "--report", str(out)], monkeypatch, capsys
    )
    assert code == 0, err
    assert json.loads(out.read_text())["model"]["accuracy"] == headed.evaluation.metrics["eval/real/count_accuracy"]


def test_the_whole_frame_answers_where_no_box_is_kept(server: str, counted: Path) -> None:
    photo = next(counted.glob("3/*.jpg"))
    sent = {"file": (photo.name, photo.read_bytes())}
    answer = httpx.post(f"{server}/predict", params={"conf": 0.999}, files=sent, timeout=60)
    hands = answer.json()["predictions"]
    assert hands
    assert {(hand["counted_by"], hand["confidence"]) for hand in hands} == {("photo", 1.0)}


def test_the_model_and_the_monitor_say_how_it_counts(server: str) -> None:
    current = httpx.get(f"{server}/models/current").json()["model"]
    assert current["count_head"] == "landmarks+photo"
    judges = httpx.get(f"{server}/monitor").json()["judges"]
    assert judges["independent"] is False
    assert "agreeing with itself" in judges["what"]


def test_the_dashboard_names_the_head_and_lists_how_each_hand_was_counted(browser: Any, server: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    console = ConsoleLog(page)
    try:
        page.goto(f"{server}/#/live")
        page.wait_for_function("() => document.getElementById('model-badge').dataset.countHead === 'landmarks+photo'")
        assert "counts by landmarks+photo" in page.text_content("#model-badge")
        page.get_by_role("button", name="Start camera").click()
        page.wait_for_function("() => parseFloat(document.getElementById('fps').textContent) > 0", timeout=30000)
        screenshot(page, "live-count-head")
    finally:
        context.close()
    assert console.errors == []
