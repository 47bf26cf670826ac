"""The leave-out campaign on a tiny two-stage recipe: it runs the next run not yet done, writes each
result as one file, never runs a finished one again, and a run killed midway leaves no result and
no MLflow run RUNNING — and the next runner goes on from its last checkpoint, in the same run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from fingercount.config import SyntheticSourceConfig
from fingercount.data.sources.synthetic import write_synthetic
from fingercount.labeling.photo import PHOTO_RULE
from fingercount.training import campaign
from tests.conftest import run_cli
from tests.workspace import Workspace

pytestmark = pytest.mark.slow


def tiny_plan(root: Path, workspace: Workspace, epochs: int = 1, last_epochs: int | None = None) -> Path:
    """Two stages of the test recipe with two extra sources; `other` is left out, `more` chooses the arbitration.
    `last_epochs`: the second stage's, where not `epochs`."""
    sources = []
    for name, seed in (("other", 7), ("more", 8)):
        folder = write_synthetic(root / name, SyntheticSourceConfig(images=12, seed=seed, img_size=128), progress=False)
        sources.append({"type": "local", "name": name, "local": {"path": str(folder)}})
    data = yaml.safe_load((workspace.root / "configs/test_config_data.yaml").read_text())
    data["extra_sources"] = sources
    data["output_dir"] = str(root / "prepared")
    (root / "data.yaml").write_text(yaml.safe_dump(data))
    stages = []
    for stage in (1, 2):
        config = yaml.safe_load((workspace.root / "configs/test_config.yaml").read_text())
        config["dataset"]["config"] = str(root / "data.yaml")
        config["training"]["epochs"] = last_epochs if stage == 2 and last_epochs else epochs
        config["mlflow"]["auto_register"] = False
        if stage == 2:  # what the shipped second stage does: it names the checkpoint it continues
            config["model"]["weights"] = "fingercount-hands-n160"
            config["training"]["source_weights"] = {"more": 2}
        (root / f"stage{stage}.yaml").write_text(yaml.safe_dump(config))
        stages.append(str(root / f"stage{stage}.yaml"))
    plan = {
        "stages": stages, "sources": ["other"], "seeds": [1], "device": "cpu",
        "results": str(root / "results"), "checkpoints": str(root / "checkpoints"), "work": str(root / "work"),
        "levers": {
            "baseline": {}, "flip": {"note": "no flips", "set": {"augmentation.fliplr": 0.0}},
            "landmarks": {"note": "a pose head", "set": {"model.landmarks": True}},
        },
    }  # fmt: skip
    (root / "plan.yaml").write_text(yaml.safe_dump(plan))
    return root / "plan.yaml"


def test_the_campaign_resumes_and_never_runs_a_result_again(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(workspace.root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", workspace.tracking_uri)
    plan_path = tiny_plan(tmp_path, workspace)
    plan = campaign.load_plan(plan_path)
    keys = [run.key for run in campaign.planned_runs(plan)]
    # The lever's second stage starts from the baseline's first, which never saw `other`.
    assert keys == [
        "baseline--other--seed1--stage1",
        "baseline--other--seed1--stage2",
        "flip--other--seed1--stage2",
        "landmarks--other--seed1--stage2",
    ]

    code, printed, err = run_cli(["campaign", "run", str(plan_path), "--runs", "1", "-q"], monkeypatch, capsys)
    assert code == 0, err
    assert "[1/4] baseline--other--seed1--stage1" in printed
    assert "3 run(s) left" in printed
    first = json.loads((tmp_path / "results/baseline--other--seed1--stage1.json").read_text())
    assert first["photos"] == 12
    assert first["final"] is False
    assert first["machine"]["cores"]
    assert len(first["config_hash"]) == 16
    assert first["commit"]
    assert (tmp_path / "checkpoints/baseline--other--seed1--stage1.pt").is_file()
    written = (tmp_path / "results/baseline--other--seed1--stage1.json").stat().st_mtime_ns

    code, printed, err = run_cli(["campaign", "run", str(plan_path), "-q"], monkeypatch, capsys)
    assert code == 0, err
    assert "baseline--other--seed1--stage1" not in printed  # done: never run again
    assert "[2/4] baseline--other--seed1--stage2" in printed
    assert "[3/4] flip--other--seed1--stage2" in printed
    assert "[4/4] landmarks--other--seed1--stage2" in printed
    assert "the plan is done" in printed
    assert (tmp_path / "results/baseline--other--seed1--stage1.json").stat().st_mtime_ns == written
    final = json.loads((tmp_path / "results/flip--other--seed1--stage2.json").read_text())
    assert final["starts_from"] == "baseline--other--seed1--stage1"
    assert final["settings"] == {"augmentation.fliplr": 0.0}
    assert set(final["heads"]) == {
        "classes",
        "landmarks",
        "arbitrated",
        "landmarks+photo",
        "photo+landmarks",
        "sure+photo",
    }
    # The class head, recomputed from the kept boxes, is the model's count as measured (as served).
    assert final["heads"]["classes"]["accuracy"] == final["model"]["accuracy"]
    assert len(final["boxes"]["left_out"]) == 12
    assert set(final["teacher_photos"]) == set(final["boxes"]["left_out"])  # the whole-photo teacher, per photo
    assert "val/more" in final["boxes"]
    assert 0 < final["heads"]["arbitrated"]["sure"] <= 1.01
    # A pose head trained from the same detection checkpoint: each box also counted from its keypoints.
    pose = json.loads((tmp_path / "results/landmarks--other--seed1--stage2.json").read_text())
    assert pose["starts_from"] == "baseline--other--seed1--stage1"
    params = MlflowClient(workspace.tracking_uri).get_run(pose["run_id"]).data.params
    assert params["model.landmarks"] == "True"
    assert int(params["landmarks.boxes_with_landmarks"]) + int(params["landmarks.boxes_without"]) > 0
    # (one epoch keeps no box on these drawings; a pose model's keypoint head: tests/unit/training/test_landmarks.py)
    assert all(len(box) == 4 for _, boxes in pose["boxes"]["left_out"].values() for box in boxes)

    code, printed, err = run_cli(["campaign", "run", str(plan_path), "-q"], monkeypatch, capsys)
    assert code == 0
    assert "[" not in printed
    assert "the plan is done" in printed
    assert "counted again" not in printed

    # A result whose whole photos an older rule counted is counted again by today's; its records stay.
    # It keeps the photos it counted: here one fewer, as if an older finger rule's label check had
    # left that one out (a new rule's check keeps other photos; the detector's records know only these).
    assert final["photo_rule"] == PHOTO_RULE
    dropped = sorted(final["teacher_photos"])[0]
    older = {k: v for k, v in final.items() if k != "photo_rule"} | {
        "teacher_photos": {photo: 9 for photo in final["teacher_photos"] if photo != dropped},
        "boxes": final["boxes"] | {"left_out": {p: b for p, b in final["boxes"]["left_out"].items() if p != dropped}},
    }
    (tmp_path / "results/flip--other--seed1--stage2.json").write_text(json.dumps(older))
    code, printed, err = run_cli(["campaign", "run", str(plan_path), "-q"], monkeypatch, capsys)
    assert code == 0, err
    assert "1 result(s) counted again by today's whole-photo rule" in printed
    again = json.loads((tmp_path / "results/flip--other--seed1--stage2.json").read_text())
    assert again["teacher_photos"] == {p: c for p, c in final["teacher_photos"].items() if p != dropped}
    assert again["teacher"]["images"] == final["teacher"]["images"] - 1
    assert again["boxes"] == older["boxes"]
    assert again["photo_rule"] == PHOTO_RULE
    (tmp_path / "results/flip--other--seed1--stage2.json").write_text(json.dumps(final))  # as it was
    code, printed, err = run_cli(["campaign", "report", str(plan_path), "--per-count"], monkeypatch, capsys)
    assert code == 0, err
    assert "4 of 4 runs done." in printed
    assert "| baseline | classes | **" in printed
    assert "| flip | landmarks | **" in printed
    assert "Against the control (the baseline's class head), by the written rule:" in printed
    assert "- flip / classes: does not win" in printed or "- flip / classes: **wins**" in printed
    against_control, by_head = printed.split("against the baseline under the same head:")
    assert "- flip / landmarks:" in by_head
    assert "- flip / landmarks:" not in against_control
    assert "| flip | landmarks+photo | **" in printed
    assert "| teacher | landmarks on the photo |" in printed
    code, printed, err = run_cli(
        ["campaign", "report", str(plan_path), "--card", "classes,sure+photo"], monkeypatch, capsys
    )
    assert code == 0, err
    card = json.loads(printed)
    assert set(card["accuracy"]) == {"classes", "sure+photo", "teacher"}
    assert card["accuracy"]["sure+photo"]["other"]["seeds"] == 1
    assert card["photo_rule"] == PHOTO_RULE
    code, _, err = run_cli(["campaign", "report", str(plan_path), "--card", "classes,nope"], monkeypatch, capsys)
    assert code == 2
    assert "no 'nope' head in the baseline's results" in err


def ended(runner: subprocess.Popen[bytes], timeout: float = 60) -> bytes:
    """The stopped runner's output; what it printed, when it does not stop."""
    try:
        return runner.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        runner.kill()
        out = runner.communicate()[0].decode(errors="replace")
        pytest.fail(f"the runner went on {timeout:.0f} s after its SIGTERM; it printed:\n{out[-3000:]}")


def test_a_killed_run_leaves_no_result_and_no_running_run(workspace: Workspace, tmp_path: Path) -> None:
    plan_path = tiny_plan(tmp_path, workspace, epochs=1, last_epochs=30)  # killed in the stage that starts from one
    env = {**os.environ, "MLFLOW_TRACKING_URI": workspace.tracking_uri}
    command = [sys.executable, "-m", "fingercount", "campaign", "run", str(plan_path), "-q"]
    runner = subprocess.Popen(command, cwd=workspace.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    client = MlflowClient(workspace.tracking_uri)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # kill it while it trains: its run is RUNNING
        experiment = client.get_experiment_by_name("fingercount-tests-leave-out")
        running = experiment and client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'")
        if running and running[0].info.run_name == "baseline--other--seed1--stage2":
            break
        time.sleep(0.5)
    else:
        runner.kill()
        pytest.fail("the runner never started its second stage")
    run_id = running[0].info.run_id
    checkpoint = workspace.root / "experiments/fingercount-tests-leave-out" / run_id / "weights/last.pt"
    while time.monotonic() < deadline and not checkpoint.is_file():  # an epoch done: a run to go on from
        time.sleep(0.2)
    runner.send_signal(signal.SIGTERM)
    out = ended(runner)
    assert runner.returncode != 0, out
    assert [p.name for p in (tmp_path / "results").glob("*.json")] == ["baseline--other--seed1--stage1.json"], out
    assert not list((tmp_path / "results").glob("*.partial"))
    assert client.get_run(run_id).info.status == "KILLED"

    # The next runner goes on from that checkpoint, in the same MLflow run. Killed outright (no
    # chance to end its run), it leaves the run RUNNING: the runner after it ends it KILLED first.
    runner = subprocess.Popen(command, cwd=workspace.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        running = client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'")  # type: ignore[union-attr]
        if running:
            break
        time.sleep(0.5)
    runner.kill()
    runner.communicate(timeout=60)
    assert running[0].info.run_id == run_id  # resumed, not started again
    assert client.get_run(run_id).info.status == "RUNNING"
    plan = campaign.load_plan(plan_path)
    assert campaign.settle_stale_runs(plan, workspace.tracking_uri) == [run_id]
    assert client.get_run(run_id).info.status == "KILLED"
    assert len(list((tmp_path / "results").glob("*.json"))) == 1

    # Run to its end, it goes on from the epochs done and says so in its result.
    second = campaign.planned_runs(plan)[1]
    done = subprocess.run([*command, "--runs", "1"], cwd=workspace.root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"of its killed run {run_id}" in done.stdout, done.stdout  # "going on from epoch N of …"
    result = json.loads(campaign.result_path(plan, second).read_text())
    assert result["run_id"] == run_id
    assert 1 <= result["resumed"]["from_epoch"] < 30
    assert result["resumed"]["earlier_minutes"] > 0
    assert result["minutes"] > result["resumed"]["earlier_minutes"]
    assert client.get_run(run_id).info.status == "FINISHED"
    epochs, _ = campaign.trained_epochs(checkpoint.parent.parent / "results.csv")
    assert epochs == 30
