"""The teach loop through the API: collect real hand photos into a collection, train on it in a
separate process, serve the result; bad input writes nothing; cancelled or killed jobs leave the
old model serving and their run ended."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from mlflow import MlflowClient
from PIL import Image

from fingercount.training.trainer import TrainResult
from tests.conftest import real_photos
from tests.workspace import Workspace, teach_server, wait_for

pytestmark = pytest.mark.slow
MODEL = "yolov11-finger-counting"
ALIAS = "teach"
TOKEN = {"Authorization": "Bearer s3cret"}


@pytest.fixture(scope="module")
def server(
    workspace: Workspace, first: TrainResult, real_hands: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    root = tmp_path_factory.mktemp("teach")
    with teach_server(workspace, str(first.model_version), ALIAS, root, ADMIN_TOKEN="s3cret") as base:
        yield base


def add(base: str, photo: Path, count: int | str, name: str = "mine", **headers: str) -> httpx.Response:
    files = {"file": (photo.name, photo.read_bytes(), "image/jpeg")}
    return httpx.post(
        f"{base}/collections/{name}/frames", params={"count": count}, files=files, headers=headers or TOKEN, timeout=60
    )


@pytest.fixture(scope="module")
def collected(server: str) -> dict[str, object]:
    """5 photos of each count 1-5, counts taken in turn (so every frame is its own take)."""
    chosen = real_photos(per_count=5)
    for round_ in range(5):
        for count in sorted(chosen):
            response = add(server, chosen[count][round_], count)
            assert response.status_code == 200, response.text
            assert response.json()["stored"] is True
            assert response.json()["teacher_count"] in range(6)
    summary = httpx.get(f"{server}/collections/mine").json()
    assert summary["frames"] == 25
    assert summary["counts"] == {"0": 0, "1": 5, "2": 5, "3": 5, "4": 5, "5": 5}
    return summary


def test_frames_are_boxed_listed_served_and_deleted(server: str, collected: dict[str, object]) -> None:
    items = httpx.get(f"{server}/collections/mine").json()["items"]
    frame = items[0]
    x1, y1, x2, y2 = frame["box"]
    assert 0 <= x1 < x2 <= frame["width"]
    assert 0 <= y1 < y2 <= frame["height"]
    image = httpx.get(f"{server}/collections/mine/images/{frame['id']}.jpg")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert [c["name"] for c in httpx.get(f"{server}/collections").json()] == ["mine"]
    teacher = httpx.post(f"{server}/teacher", files={"file": ("f.jpg", image.content, "image/jpeg")}).json()
    assert teacher["count"] == frame["teacher_count"]
    # The same picture again is skipped, and so is nothing written.
    again = add(server, real_photos(per_count=5)[5][4], 5)
    assert again.json()["stored"] is False
    # Deleting needs the token, then removes the frame.
    scratch = add(server, real_photos(per_count=1)[2][0], 2, name="scratch").json()["frame"]
    url = f"{server}/collections/scratch/frames/{scratch['id']}"
    assert httpx.delete(url).status_code == 401
    assert httpx.delete(url, headers=TOKEN).json()["frames"] == 0
    assert httpx.get(f"{server}/collections/scratch/images/{scratch['id']}.jpg").status_code == 404


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, "PNG")
    return buffer.getvalue()


def test_bad_input_is_a_4xx_and_writes_nothing(server: str, collected: dict[str, object], tmp_path: Path) -> None:
    photo = real_photos(per_count=1)[3][0]
    blank = tmp_path / "blank.png"
    blank.write_bytes(png(64, 64))
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8\xff" + os.urandom(200))
    huge = tmp_path / "huge.png"
    huge.write_bytes(png(8000, 6000))
    cases = [
        (add(server, photo, 7), 422, "count"),
        (add(server, photo, 3, name="..%2Fescape"), 405, None),  # never reaches a collection route
        (add(server, photo, 3, name="has space"), 422, "name"),
        (add(server, photo, 3, Authorization="Bearer wrong"), 401, "ADMIN_TOKEN"),
        (add(server, blank, 3), 400, "no hand"),
        (add(server, garbage, 3), 400, None),
        (add(server, huge, 3), 413, "pixels"),
        (httpx.get(f"{server}/collections/nobody"), 404, "no collection named 'nobody'"),
        (httpx.post(f"{server}/jobs", params={"collection": "nobody"}, headers=TOKEN), 404, "nobody"),
        (httpx.post(f"{server}/jobs", params={"collection": "mine"}), 401, "ADMIN_TOKEN"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, response.text
        if words:
            assert words in response.json()["detail"], response.text
    assert httpx.get(f"{server}/collections/mine").json()["frames"] == collected["frames"]
    assert [c["name"] for c in httpx.get(f"{server}/collections").json()] == ["mine", "scratch"]


def job_done(server: str) -> dict[str, object]:
    wait_for(lambda: httpx.get(f"{server}/jobs/current").json()["state"] != "running", timeout=400, interval=1)
    job: dict[str, object] = httpx.get(f"{server}/jobs/current").json()
    return job


def test_a_job_fine_tunes_registers_and_serves_the_new_version(
    server: str, collected: dict[str, object], workspace: Workspace
) -> None:
    before = httpx.get(f"{server}/models/current").json()["model"]["version"]
    started = httpx.post(f"{server}/jobs", params={"collection": "mine"}, headers=TOKEN)
    assert started.status_code == 200, started.text
    assert started.json()["parent"] == f"models:/{MODEL}/{before}"
    second = httpx.post(f"{server}/jobs", params={"collection": "mine"}, headers=TOKEN)
    assert second.status_code == 409
    assert "still running" in second.json()["detail"]
    job = job_done(server)
    assert job["state"] == "succeeded", job
    assert job["epoch"] == job["epochs"] == 2
    assert job["promoted"] is True  # the parent was never measured on this collection
    assert "eval/collection/count_accuracy" in job["metrics"]  # type: ignore[operator]
    current = httpx.get(f"{server}/models/current").json()["model"]
    assert current["version"] == job["version"] != before
    run = MlflowClient().get_run(str(job["run_id"]))
    assert run.info.status == "FINISHED"
    assert run.data.tags["parent.version"] == before
    assert run.data.metrics["eval/collection/images"] >= 1
    assert "collection" in run.data.params["dataset.source"]


def wait_for_training(server: str) -> dict[str, object]:
    wait_for(lambda: httpx.get(f"{server}/jobs/current").json()["phase"] == "training", timeout=300, interval=0.5)
    job: dict[str, object] = httpx.get(f"{server}/jobs/current").json()
    return job


@pytest.mark.parametrize("how", ["cancel", "kill"])
def test_a_stopped_job_leaves_the_old_model_serving(server: str, collected: dict[str, object], how: str) -> None:
    before = httpx.get(f"{server}/models/current").json()["model"]["version"]
    started = httpx.post(f"{server}/jobs", params={"collection": "mine", "epochs": 50}, headers=TOKEN)
    assert started.status_code == 200, started.text
    job = wait_for_training(server)
    if how == "cancel":
        assert httpx.post(f"{server}/jobs/current/cancel", headers=TOKEN).status_code == 200
    else:
        os.kill(int(str(job["pid"])), signal.SIGKILL)  # no chance to end its own run
    ended = job_done(server)
    assert ended["state"] == ("cancelled" if how == "cancel" else "failed"), ended
    assert ended["error"]
    assert httpx.get(f"{server}/models/current").json()["model"]["version"] == before
    run = MlflowClient().get_run(str(ended["run_id"]))
    assert run.info.status == ("KILLED" if how == "cancel" else "FAILED")


@pytest.fixture(scope="module")
def hand_and_face(real_hands: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A real hand photo and a real face (skimage's astronaut) side by side, as one webcam frame."""
    from skimage import data as samples

    hand = cv2.imread(str(real_photos(per_count=1)[5][0]))
    face = cv2.cvtColor(samples.astronaut(), cv2.COLOR_RGB2BGR)[0:220, 120:340]  # her face, 220x220
    frame = np.zeros((480, 860, 3), np.uint8)
    frame[:240, :320] = hand
    frame[:220, 620:840] = face
    photo = tmp_path_factory.mktemp("face") / "hand-and-face.png"
    cv2.imwrite(str(photo), frame)
    return photo, hand, face


@pytest.mark.parametrize(
    ("env", "face_blurred"),
    [({}, True), ({"ENABLE_PREPROCESSING": "true"}, True), ({"KEEP_FACES": "1"}, False)],
    ids=["default", "preprocessing-on", "keep-faces"],
)
def test_a_stored_frame_has_its_faces_blurred_unless_the_operator_keeps_them(
    workspace: Workspace,
    first: TrainResult,
    hand_and_face: tuple[Path, np.ndarray, np.ndarray],
    tmp_path_factory: pytest.TempPathFactory,
    env: dict[str, str],
    face_blurred: bool,
) -> None:
    """A webcam frame usually holds a face: stored blurred by default (preprocessing off), as sent
    only with KEEP_FACES=1."""
    photo, hand, face = hand_and_face
    root = tmp_path_factory.mktemp("teach-blur")
    with teach_server(workspace, str(first.model_version), "teach-blur", root, **env) as base:
        privacy = httpx.get(f"{base}/health").json()["privacy"]
        assert privacy["stored_frames"] == ("faces blurred" if face_blurred else "with faces")
        assert privacy["keep_faces"] is not face_blurred
        files = {"file": (photo.name, photo.read_bytes(), "image/png")}
        answer = httpx.post(f"{base}/collections/blurred/frames", params={"count": 5}, files=files, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["teacher_count"] == 5  # counted on the frame as sent
        stored = cv2.imread(str(next((root / "collections" / "blurred" / "images").glob("*.jpg"))))
    face_change = np.abs(stored[:220, 620:840].astype(int) - face.astype(int)).mean()
    hand_change = np.abs(stored[:240, :320].astype(int) - hand.astype(int)).mean()
    assert hand_change < 2, hand_change  # the hand only went through JPEG
    if face_blurred:
        assert face_change > 8, face_change  # the face was blurred
    else:
        assert face_change < 4, face_change  # it only went through JPEG (2.2 here)


def test_without_the_blur_no_frame_is_stored_and_the_server_says_why(
    workspace: Workspace,
    first: TrainResult,
    hand_and_face: tuple[Path, np.ndarray, np.ndarray],
    tmp_path_factory: pytest.TempPathFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    photo, _, _ = hand_and_face
    root = tmp_path_factory.mktemp("teach-no-blur")
    missing = root / "centerface-gone.onnx"
    with teach_server(workspace, str(first.model_version), "teach-no-blur", root, FACE_BLUR_MODEL=str(missing)) as base:
        health = httpx.get(f"{base}/health").json()
        assert health["privacy"]["stored_frames"] == "not stored"
        assert f"the face-blur model {missing} is missing" in health["privacy"]["reason"]
        assert health["reason"].startswith("camera frames are not stored: the face blur cannot run")
        files = {"file": (photo.name, photo.read_bytes(), "image/png")}
        answer = httpx.post(f"{base}/collections/unblurred/frames", params={"count": 5}, files=files, timeout=60)
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "face_blur_unavailable"
        assert "KEEP_FACES=1" in answer.json()["detail"]
        assert httpx.post(f"{base}/predict", files=files, timeout=60).status_code == 200  # serving goes on
    assert not (root / "collections" / "unblurred").exists()
    said = [r.getMessage() for r in caplog.records if "face blur cannot run" in r.getMessage()]
    assert len(said) == 1, said  # once, at start
