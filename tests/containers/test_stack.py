"""The Compose stack, run for real: images built from the repository's Dockerfiles, started in
the file's order by its `depends_on` conditions, a training container training into it, the serving
container answering through the nginx front door. The tests run in this order and share the stack."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from mlflow import MlflowClient
from websockets.sync.client import connect

from tests.conftest import REPO, real_photos
from tests.containers.compose import ComposeStack
from tests.containers.conftest import ENV, PORTS
from tests.containers.podman import podman

API = f"http://127.0.0.1:{PORTS['serving']}"
FRONT = f"http://127.0.0.1:{PORTS['frontend']}"
MLFLOW = f"http://127.0.0.1:{PORTS['mlflow']}"
MODEL = "yolov11-finger-counting"


def _s3() -> Any:
    """The artifact store, as the root user (the stand-in's S3 API on MinIO's port)."""
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{PORTS['minio']}",
        aws_access_key_id=ENV["MINIO_ROOT_USER"],
        aws_secret_access_key=ENV["MINIO_ROOT_PASSWORD"],
        region_name="us-east-1",
    )


def test_images_build(images: ComposeStack, build_times: dict[str, float], say: Callable[[str], None]) -> None:
    sizes = {}
    for service in ("mlflow", "serving", "training"):
        sizes[service] = int(podman("image", "inspect", "--format", "{{.Size}}", images.image(service)).stdout)
    say("build seconds: " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in build_times.items()))
    say("image sizes: " + ", ".join(f"{name} {size / 1e9:.2f} GB" for name, size in sizes.items()))
    # The serving image has no PyTorch (DESIGN.md): it must stay far below the training image.
    assert sizes["serving"] < sizes["training"] / 2


def test_stores_and_tracking_start_in_dependency_order(stack: ComposeStack) -> None:
    stack.up(["mlflow"])
    assert stack.started == ["postgres", "minio", "minio-init", "mlflow"]
    assert stack.state("minio-init")["ExitCode"] == 0
    stack.wait("mlflow", "service_healthy", 180)  # the image's own HEALTHCHECK
    assert httpx.get(f"{MLFLOW}/health", timeout=10).status_code == 200


def test_artifact_bucket_is_created_private(stack: ComposeStack) -> None:
    s3 = _s3()
    assert "mlflow" in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]
    with pytest.raises(ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket="mlflow")
    grants = s3.get_bucket_acl(Bucket="mlflow")["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]
    assert grants[0]["Grantee"]["Type"] == "CanonicalUser"  # the owner; nobody else, no AllUsers


def test_training_container_trains_registers_and_stores_artifacts_in_s3(
    stack: ComposeStack, say: Callable[[str], None]
) -> None:
    started = time.perf_counter()
    result = stack.run(
        "training", ["fingercount", "train", "--training-config", "configs/test_config.yaml", "--evaluate"]
    )
    say(f"training container: {time.perf_counter() - started:.0f} s, exit {result.returncode}")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    client = MlflowClient(MLFLOW, MLFLOW)
    version = client.get_model_version_by_alias(MODEL, "staging")
    run = client.get_run(version.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server to S3
    s3 = _s3()
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="mlflow").get("Contents", [])]
    assert any(version.run_id in key for key in keys)


def _loaded(stack: ComposeStack, timeout: float = 180) -> dict[str, Any]:
    """/health once the model is loaded (healthy comes first: the load runs in the background)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health: dict[str, Any] = httpx.get(f"{API}/health", timeout=10).json()
        if health["model_loaded"]:
            return health
        time.sleep(1)
    raise AssertionError(f"no model loaded after {timeout:.0f} s: {health}\n{stack.logs('serving')}")


def _predict(base: str) -> dict[str, object]:
    photo = real_photos(1)[3][0]
    answer = httpx.post(f"{base}/predict", files={"file": (photo.name, photo.read_bytes(), "image/jpeg")}, timeout=60)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_serving_container_loads_the_version_and_answers(stack: ComposeStack) -> None:
    stack.up()  # serving, then the frontend once serving is healthy
    assert stack.started[-3:] == ["serving", "frontend", "prometheus"]  # grafana: no image here
    stack.wait("serving", "service_healthy", 180)  # the image's own HEALTHCHECK command
    health = _loaded(stack)
    version = MlflowClient(MLFLOW, MLFLOW).get_model_version_by_alias(MODEL, "staging").version
    assert str(health["model"]["version"]) == str(version)
    body = _predict(API)
    assert body["model_version"] == str(version)
    assert isinstance(body["finger_count"], int)


def test_serving_runs_as_its_user_on_a_read_only_root(stack: ComposeStack) -> None:
    name = stack.container("serving")
    assert podman("exec", name, "id", "-u").stdout.strip() == "10001"
    assert stack.services["serving"].get("read_only") is True
    denied = podman("exec", name, "touch", "/app/written", check=False)
    assert denied.returncode != 0
    assert "Read-only file system" in denied.stderr


def test_front_door_serves_dashboard_api_and_websocket(stack: ComposeStack) -> None:
    page = httpx.get(f"{FRONT}/", timeout=10)
    assert page.status_code == 200
    assert "<html" in page.text.lower()
    assert "Content-Security-Policy" in page.headers
    assert httpx.get(f"{FRONT}/health", timeout=10).json()["model_loaded"] is True
    assert isinstance(_predict(FRONT)["finger_count"], int)
    photo = real_photos(1)[2][0].read_bytes()
    with connect(f"ws://127.0.0.1:{PORTS['frontend']}/ws/predict", open_timeout=10) as ws:
        ws.send(photo)
        answer = json.loads(ws.recv(timeout=60))
    assert "finger_count" in answer, answer


def test_prometheus_scrapes_the_agreement_and_the_board_answers(
    stack: ComposeStack, say: Callable[[str], None]
) -> None:
    """Real Prometheus (Debian's) scrapes serving with its rules loaded; every panel of the Grafana
    board gets data from it (Grafana itself has no image here)."""
    prometheus = f"http://127.0.0.1:{PORTS['prometheus']}"
    for photos in real_photos(3).values():  # MONITOR_SAMPLE=1 here: each one judged
        for photo in photos:
            httpx.post(f"{API}/predict", files={"file": (photo.name, photo.read_bytes(), "image/jpeg")}, timeout=60)

    def query(expr: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["status"] == "success", (expr, answer)
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    deadline = time.monotonic() + 120
    while not query("fingercount_monitor_judged_total") and time.monotonic() < deadline:
        time.sleep(2)
    judged = query("sum(fingercount_monitor_judged_total)")
    assert judged, "Prometheus never scraped a judged frame"
    agreement = query("fingercount_monitor_agreement")
    assert agreement
    assert 0 <= float(agreement[0]["value"][1]) <= 1
    rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"][0]["rules"]
    assert {rule["name"] for rule in rules} >= {"FingerCountDrift", "FingerCountNoModel"}
    assert all(rule["health"] == "ok" for rule in rules), rules
    time.sleep(6)  # rate() needs two scrapes inside its window
    board = json.loads((REPO / "deploy/grafana/dashboards/fingercount.json").read_text())
    for panel in board["panels"]:
        answered = [target["expr"] for target in panel["targets"] if query(target["expr"])]
        assert answered, f"no data for the panel {panel['title']!r}"
    judged_now, agreeing = float(judged[0]["value"][1]), float(agreement[0]["value"][1])
    say(f"Prometheus: {judged_now:.0f} frames judged, agreement {agreeing:.2f}")


def test_serving_restart_loads_the_same_version(stack: ComposeStack) -> None:
    before = httpx.get(f"{API}/health", timeout=10).json()["model"]["version"]
    podman("restart", "--time", "30", stack.container("serving"))
    stack.wait("serving", "service_healthy", 180)
    assert _loaded(stack)["model"]["version"] == before
    assert httpx.get(f"{FRONT}/health", timeout=10).status_code == 200  # nginx follows the restart


def test_serving_stops_cleanly_on_sigterm(stack: ComposeStack, say: Callable[[str], None]) -> None:
    started = time.perf_counter()
    podman("stop", "--time", "30", stack.container("serving"))
    seconds = time.perf_counter() - started
    say(f"serving stopped on SIGTERM in {seconds:.1f} s")
    state = stack.state("serving")
    assert state["ExitCode"] == 0, stack.logs("serving")
    assert seconds < 25  # SIGKILL would have come at 30 s
    assert "Finished server process" in stack.logs("serving")
    say("not exercised on the host network: " + "; ".join(stack.skipped))
