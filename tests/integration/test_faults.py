"""Faults injected into the real components (PostgreSQL + S3 + `mlflow server`, the disk), and what
is lost: nothing.

- MLflow dies mid-training: the command stops with one line naming the run and the kept
  checkpoint; `--resume RUN` finishes the same run when the server is back.
- The artifact store fails mid-download: serving keeps the old model, the cache keeps no half
  file, and the same load works once the store is back.
- Trainings register and promote at once: versions are distinct and the alias ends on the best.
- The disk fills during preparation: a one-line error; the complete dataset that was there stays.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow import MlflowClient

from fingercount.devstack import DevStack
from fingercount.registry import Registry
from fingercount.registry.package import ModelPackage
from fingercount.serving.model_manager import ModelManager
from fingercount.training import tracking
from fingercount.training.trainer import TrainResult
from tests.faults import CuttingProxy
from tests.workspace import Workspace, use_tracking_uri, wait_for

pytestmark = pytest.mark.slow
MODEL = "yolov11-finger-counting"


@pytest.fixture(scope="module")
def s3_link() -> Iterator[CuttingProxy]:
    """The link from `mlflow server` to the S3 server, with a switch to cut downloads half-way."""
    stack = DevStack()
    proxy = CuttingProxy(stack.s3_port)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def stack(s3_link: CuttingProxy) -> Iterator[DevStack]:
    running = DevStack(s3_port=s3_link.target_port, mlflow_s3_endpoint=s3_link.url).start()
    try:
        yield running
    finally:
        running.stop()


def fingercount(args: list[str], workspace: Workspace, stack: DevStack) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": stack.tracking_uri, "MODEL_CACHE_DIR": str(workspace.root / "cache")}
    return subprocess.run(
        [sys.executable, "-m", "fingercount", *args], cwd=workspace.root, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


def test_mlflow_dying_mid_training_loses_nothing(stack: DevStack, workspace: Workspace, first: TrainResult) -> None:
    config = yaml.safe_load((workspace.root / "configs/test_config.yaml").read_text())
    config["training"]["epochs"] = 6
    config["mlflow"]["experiment_name"] = "faults"
    path = workspace.root / "configs/faults_config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "MLFLOW_TRACKING_URI": stack.tracking_uri}
    training = subprocess.Popen(
        [sys.executable, "-m", "fingercount", "train", "-t", str(path), "--quiet"], cwd=workspace.root, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)

    def first_epoch_logged() -> bool:
        experiment = client.get_experiment_by_name("faults")
        runs = client.search_runs([experiment.experiment_id]) if experiment else []
        return bool(runs and runs[0].data.metrics)

    wait_for(first_epoch_logged, timeout=180, interval=0.3)
    (run,) = client.search_runs([client.get_experiment_by_name("faults").experiment_id])
    stack.kill_mlflow()
    _, stderr = training.communicate(timeout=300)
    assert training.returncode == 1, stderr
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    assert f"stopped answering during run {run.info.run_id}" in lines[0]
    assert f"--resume {run.info.run_id}" in lines[0]
    assert (workspace.root / "experiments/faults" / run.info.run_id / "weights/last.pt").is_file()

    stack.start_mlflow()
    assert client.get_run(run.info.run_id).info.status == "RUNNING"  # the server could not be told
    resumed = fingercount(["train", "-t", str(path), "--quiet", "--resume", run.info.run_id], workspace, stack)
    assert resumed.returncode == 0, resumed.stderr
    finished = client.get_run(run.info.run_id)
    assert finished.info.status == "FINISHED"
    assert finished.data.tags["resumed"] == "true"
    steps = {m.step for m in client.get_metric_history(run.info.run_id, "mAP50")}
    assert steps == set(range(1, 7)), steps  # every epoch, before and after the outage
    (version,) = client.search_model_versions(f"name='{MODEL}'")
    assert version.run_id == run.info.run_id
    again = fingercount(["train", "-t", str(path), "--quiet", "--resume", run.info.run_id], workspace, stack)
    assert again.returncode == 2
    assert "finished already" in again.stderr


@pytest.fixture(scope="module")
def registered(
    stack: DevStack, workspace: Workspace, first: TrainResult, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The session's first package registered in the stack (through the server into S3): its version."""
    copy = tmp_path_factory.mktemp("package") / "package"
    assert first.package is not None
    shutil.copytree(first.package.root, copy)
    package = ModelPackage.open(copy)
    try:
        with tracking.tracked_run(stack.tracking_uri, "faults-registry", "registered", {}) as run:
            package.metadata = package.metadata.model_copy(update={"run_id": run.info.run_id})
            return Registry(stack.tracking_uri, copy.parent / "cache").register(MODEL, package, run.info.run_id)
    finally:
        use_tracking_uri(workspace.tracking_uri)


def another_version(client: MlflowClient, of: Any, run_id: str) -> Any:
    """A new version of the same logged model (no upload), made by `run_id`."""
    model_id = of.source.removeprefix("models:/")  # MLflow 3 sources name the logged model
    return client.create_model_version(MODEL, of.source, run_id=run_id, model_id=model_id)


def test_artifact_store_failing_mid_download_keeps_the_old_model(
    stack: DevStack, s3_link: CuttingProxy, registered: str, tmp_path: Path
) -> None:
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    source = client.get_model_version(MODEL, registered)
    other = another_version(client, source, source.run_id).version
    manager = ModelManager(Registry(stack.tracking_uri, tmp_path / "cache"))
    manager.load(MODEL, version=registered)

    s3_link.cut_after = 256 * 1024  # every S3 answer dies after 256 KiB: the model files do
    with pytest.raises(Exception, match="download") as failed:
        manager.load(MODEL, version=str(other))
    assert s3_link.cuts > 0
    assert str(other) in str(failed.value)
    current = manager.current()
    assert current is not None
    assert current.info.version == registered  # the old model keeps serving
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if f"/{MODEL}/{other}" in str(p)]
    assert leftovers == []  # no half-downloaded copy that a later load could take for whole

    s3_link.cut_after = None
    assert manager.load(MODEL, version=str(other)).version == str(other)


def test_concurrent_promotions_end_on_the_best(stack: DevStack, registered: str, tmp_path: Path) -> None:
    """Eight trainings finish at once: each registers a version and puts it through the gate."""
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    source = client.get_model_version(MODEL, registered)
    experiment = client.create_experiment("faults-promotions")
    metric, alias = "test/count_accuracy", "contest"
    scores = [0.61, 0.93, 0.42, 0.77, 0.88, 0.55, 0.70, 0.35]
    runs = []
    for score in scores:
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, metric, score)
        client.set_terminated(run.info.run_id)
        runs.append(run.info.run_id)
    start = threading.Barrier(len(scores))
    outcome: dict[str, tuple[float, bool]] = {}
    errors: list[BaseException] = []

    def training(run_id: str, score: float) -> None:
        try:
            registry = Registry(stack.tracking_uri, tmp_path)
            start.wait()
            created = another_version(registry.client, source, run_id)
            decision = registry.promote(MODEL, str(created.version), alias, metric)
            outcome[str(created.version)] = (score, decision.promoted)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=training, args=pair) for pair in zip(runs, scores, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [], [traceback.format_exception(e) for e in errors]
    assert len(outcome) == len(scores)  # distinct versions
    holder = client.get_model_version_by_alias(MODEL, alias).version
    assert outcome[str(holder)][0] == max(scores), outcome  # no lost promotion
    assert not [m.name for m in client.search_registered_models() if m.name.endswith(".lock")]  # released


def test_disk_filling_during_preparation_keeps_the_complete_dataset(workspace: Workspace, tmp_path: Path) -> None:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to mount a small tmpfs in a private mount namespace")
    configs = workspace.root / "configs"
    for name, images in (("small", 20), ("large", 300)):
        data = {
            "source": {"type": "synthetic", "synthetic": {"images": images, "seed": 1, "img_size": 320}},
            "output_dir": str(tmp_path / "disk" / "prepared"),
            "raw_dir": str(tmp_path / "raw"),
        }
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data))
    prepare = f"{sys.executable} -m fingercount data prepare -t {configs / 'test_config.yaml'} --quiet --config"
    script = f"""
        set -u
        mount -t tmpfs -o size=3m tmpfs {tmp_path / "disk"}
        {prepare} {tmp_path / "small.yaml"} || exit 10
        cp -r {tmp_path / "disk/prepared"} {tmp_path / "before"}
        {prepare} {tmp_path / "large.yaml"}; echo "rc=$?"
        ls -A {tmp_path / "disk"}
        diff -r {tmp_path / "before"} {tmp_path / "disk/prepared"} && echo unchanged
    """
    (tmp_path / "disk").mkdir()
    result = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script], cwd=workspace.root, capture_output=True, text=True, timeout=300
    )
    if "mount:" in result.stderr and "permission denied" in result.stderr.lower():
        pytest.skip(f"this machine does not allow a tmpfs mount: {result.stderr.strip()}")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout.splitlines()
    assert "rc=1" in out, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: No space left on device: free some space and run the command again"], result.stderr
    assert "Traceback" not in result.stderr
    assert out[out.index("rc=1") + 1 :] == ["prepared", "unchanged"]  # no .partial left; the old one intact
