"""Monitoring without labels through a real server: real photos streamed over the WebSocket, the
teacher judging a sample off the request path, `/monitor` equal to an offline computation, the drift
alarm on a swap to a version trained on drawn hands only (and cleared by swapping back), Prometheus,
and disagreements kept (faces blurred) → reviewed → taught."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from websockets.sync.client import connect

from fingercount.config import EvalSetConfig, EvaluationConfig
from fingercount.labeling.photo import photo_hands
from fingercount.labeling.teacher import HandTeacher
from fingercount.serving.imaging import decode_image
from fingercount.serving.monitor import MIN_JUDGED
from fingercount.training.trainer import TrainResult, train
from tests.conftest import real_photos
from tests.workspace import Workspace, running_server, serving_settings, teach_server, wait_for

pytestmark = pytest.mark.slow
MODEL = "yolov11-finger-counting"
TOKEN = {"Authorization": "Bearer s3cret"}


@pytest.fixture(scope="module")
def photos(real_hands: Path) -> list[tuple[bytes, int]]:
    """Real photos of one hand each (JPEG bytes, the folder's count), counts in turn like a video."""
    chosen = real_photos(per_count=12)
    return [(chosen[c][i].read_bytes(), c) for i in range(12) for c in sorted(chosen)]


@pytest.fixture(scope="module")
def measured(workspace: Workspace, real_hands: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """The shipped checkpoint registered as it is, measured with the teacher on other real photos: a
    version with a baseline."""
    held_out = tmp_path_factory.mktemp("held-out")
    for count, paths in real_photos(per_count=18).items():
        (held_out / str(count)).mkdir()
        for path in paths[12:]:  # not the streamed ones
            shutil.copy(path, held_out / str(count) / path.name)
    config = workspace.config(epochs=0)
    config = config.model_copy(
        update={
            "model": config.model.model_copy(update={"weights": "fingercount-hands-n160"}),
            "dataset": config.dataset.model_copy(update={"img_size": 160}),
            "evaluation": EvaluationConfig(sets={"real": EvalSetConfig(path=held_out)}, teacher=True),
            "mlflow": config.mlflow.model_copy(update={"auto_promote_stage": None}),
        }
    )
    result = train(config, workspace.env())
    assert result.evaluation is not None
    assert "eval/real/teacher_agreement" in result.evaluation.metrics
    return result


@pytest.fixture(scope="module")
def server(workspace: Workspace, measured: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workspace.registry().set_alias(MODEL, "monitored", str(measured.model_version))
    settings = serving_settings(
        workspace, tmp_path_factory.mktemp("monitor"), MODEL_ALIAS="monitored", MONITOR_SAMPLE="2",
        MONITOR_CPU="1", MONITOR_QUEUE="64", MONITOR_WINDOW="60", MONITOR_ALERT="15",
    )  # fmt: skip
    with running_server(settings) as base:
        wait_for(lambda: httpx.get(f"{base}/health").json()["model_loaded"], timeout=120)
        yield base


def stream(base: str, frames: list[tuple[bytes, int]]) -> list[dict[str, Any]]:
    """Every frame through one WebSocket as fast as the server answers; its answers in order."""
    answers = []
    with connect(base.replace("http://", "ws://") + "/ws/predict", open_timeout=10, max_size=None) as ws:
        for data, _ in frames:
            ws.send(data)
            answers.append(json.loads(ws.recv(timeout=60)))
    return answers


def settled(base: str) -> dict[str, Any]:
    """/monitor once every sample has been judged, skipped or dropped."""

    def done() -> bool:
        totals = httpx.get(f"{base}/monitor").json()["totals"]
        handled = totals["judged"] + totals["skipped"] + totals["dropped"] + totals["unreadable"]
        return bool(totals["sampled"] == handled)

    wait_for(done, timeout=120)
    body: dict[str, Any] = httpx.get(f"{base}/monitor", params={"frames": True}).json()
    return body


def digest(data: bytes) -> str:
    frame = decode_image(data, 10 * 1024 * 1024, 40_000_000)
    return hashlib.sha1(np.ascontiguousarray(frame).data, usedforsecurity=False).hexdigest()


def test_agreement_equals_an_offline_count_of_the_judged_frames(
    server: str, photos: list[tuple[bytes, int]], measured: TrainResult
) -> None:
    answers = stream(server, photos)
    assert all("finger_count" in answer for answer in answers), [a for a in answers if "error" in a][:3]
    status = settled(server)
    assert status["version"] == str(measured.model_version)
    assert status["sample_rate"] == 2
    assert status["totals"]["sampled"] == len(photos) // 2
    judged = status["frames"]
    assert len(judged) == status["judged"] >= 10

    sent = zip(photos, answers, strict=True)
    by_digest = {digest(data): (data, answer["finger_count"]) for (data, _), answer in sent}
    agreed = []
    with HandTeacher() as teacher:
        for frame in judged:
            data, model_count = by_digest[frame["digest"]]  # a frame that was really sent
            hands = photo_hands(teacher, decode_image(data, 10 * 1024 * 1024, 40_000_000))  # as the monitor looks
            assert frame["teacher_count"] == sum(hand.count for hand in hands)
            assert frame["model_count"] == model_count
            agreed.append(model_count == frame["teacher_count"])
    assert status["agreement"] == pytest.approx(np.mean(agreed))
    assert status["baseline"] == pytest.approx(measured.evaluation.metrics["eval/real/teacher_agreement"])  # type: ignore[union-attr]
    assert status["drift"] is None
    assert httpx.get(f"{server}/health").json()["status"] == "healthy"
    metrics = httpx.get(f"{server}/metrics").text
    version = status["version"]
    assert f'fingercount_monitor_agreement{{version="{version}"}} {status["agreement"]}' in metrics
    assert f'fingercount_monitor_judged_total{{version="{version}"}} {float(status["judged"])}' in metrics


def test_a_swap_to_drawn_hands_only_raises_the_alarm_and_swapping_back_clears_it(
    server: str, photos: list[tuple[bytes, int]], first: TrainResult, measured: TrainResult
) -> None:
    """`first` learnt drawn hands only (and was registered without teacher figures: it is held to the
    baseline of the version it replaced)."""
    swapped = httpx.post(f"{server}/models/load", json={"version": int(str(first.model_version))}, timeout=120)
    assert swapped.status_code == 200, swapped.text
    sent = 0
    while httpx.get(f"{server}/health").json()["status"] == "healthy":
        assert sent < 4 * len(photos), f"no alarm after {sent} frames: {httpx.get(f'{server}/monitor').json()}"
        stream(server, photos[:10])
        sent += 10
        settled(server)
    status = settled(server)
    health = httpx.get(f"{server}/health").json()
    assert health["status"] == "degraded"
    assert health["reason"].startswith("drift: teacher agreement")
    assert status["version"] == str(first.model_version)
    assert status["judged"] >= MIN_JUDGED
    assert status["baseline_from"] == "held-out sets"
    assert status["agreement"] < status["baseline"] - 0.15
    print(f"alarm after {sent} frames streamed, {status['judged']} judged: {health['reason']}")
    assert sent <= 120  # 1 in 2 sampled: the alarm needs about MIN_JUDGED judged frames of a bad version
    assert f'fingercount_monitor_drift{{version="{first.model_version}"}} 1.0' in httpx.get(f"{server}/metrics").text

    back = httpx.post(f"{server}/models/load", json={"version": int(str(measured.model_version))}, timeout=120)
    assert back.status_code == 200
    assert httpx.get(f"{server}/health").json()["status"] == "healthy"
    stream(server, photos[:10])
    assert settled(server)["drift"] is None


def test_disagreements_are_kept_with_faces_blurred_reviewed_and_taught(
    workspace: Workspace, first: TrainResult, photos: list[tuple[bytes, int]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A version that miscounts real hands, preprocessing off (the default): what it and the teacher
    disagree on is kept (faces blurred all the same), a person gives the true count, and the teach
    loop trains on it."""
    from skimage import data as samples

    face = cv2.cvtColor(samples.astronaut(), cv2.COLOR_RGB2BGR)[0:220, 120:340]
    composed = []
    for data, count in photos[:40]:
        hand = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        frame = np.zeros((480, 860, 3), np.uint8)
        frame[:450, :600] = cv2.resize(hand, (600, 450))
        frame[:220, 630:850] = face
        composed.append((cv2.imencode(".png", frame)[1].tobytes(), count))

    def source(kept_frame: dict[str, Any]) -> tuple[np.ndarray, int]:
        """The frame that was sent, found by its hand (the face is blurred in what was kept)."""
        image = httpx.get(f"{base}/monitor/review/{kept_frame['id']}/image")
        stored = cv2.imdecode(np.frombuffer(image.content, np.uint8), cv2.IMREAD_COLOR)
        sent = [(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), count) for data, count in composed]
        return min(sent, key=lambda pair: float(np.abs(pair[0][:450, :600].astype(int) - stored[:450, :600]).mean()))

    root = tmp_path_factory.mktemp("review")
    with teach_server(
        workspace, str(first.model_version), "reviewed", root, ADMIN_TOKEN="s3cret",
        MONITOR_SAMPLE="1", MONITOR_QUEUE="64", MONITOR_CPU="1", MONITOR_KEEP="1", MONITOR_KEEP_MAX="30",
    ) as base:  # fmt: skip
        for data, _ in composed:
            answer = httpx.post(f"{base}/predict", files={"file": ("f.png", data, "image/png")}, timeout=60)
            assert answer.status_code == 200, answer.text
        status = settled(base)
        kept = httpx.get(f"{base}/monitor/review").json()
        assert 20 <= len(kept) <= 30  # capped: the oldest go first
        assert status["kept"] == len(kept)
        assert all(frame["model_count"] != frame["teacher_count"] for frame in kept)

        image = httpx.get(f"{base}/monitor/review/{kept[0]['id']}/image")
        stored = cv2.imdecode(np.frombuffer(image.content, np.uint8), cv2.IMREAD_COLOR)
        sent, _ = source(kept[0])
        face_change = np.abs(stored[:220, 630:850].astype(int) - face.astype(int)).mean()
        hand_change = np.abs(stored[:450, :600].astype(int) - sent[:450, :600].astype(int)).mean()
        assert face_change > 4 * hand_change  # the face was blurred; the hand only went through JPEG

        review = f"{base}/monitor/review/{kept[0]['id']}"
        assert httpx.post(review, params={"count": 9}, headers=TOKEN).status_code == 422
        assert httpx.post(review, params={"count": 1}).status_code == 401
        assert httpx.get(f"{base}/monitor/review/..%2Fetc/image").status_code in (404, 422)
        deleted = httpx.delete(f"{base}/monitor/review/{kept[-1]['id']}", headers=TOKEN)
        assert deleted.status_code == 204
        assert httpx.get(f"{base}/monitor/review/{kept[-1]['id']}/image").status_code == 404
        duplicates = 0
        for frame in kept[:-1]:
            _, count = source(frame)  # the person knows the true count
            answer = httpx.post(f"{base}/monitor/review/{frame['id']}", params={"count": count}, headers=TOKEN)
            assert answer.status_code == 200, answer.text
            duplicates += answer.json()["duplicate"]
        assert duplicates < len(kept) // 2, duplicates
        assert httpx.get(f"{base}/monitor/review").json() == []
        assert httpx.get(f"{base}/collections/review").json()["frames"] >= 1

        job = httpx.post(f"{base}/jobs", params={"collection": "review"}, headers=TOKEN)
        assert job.status_code == 200, job.text
        wait_for(lambda: httpx.get(f"{base}/jobs/current").json()["state"] != "running", timeout=600, interval=1)
        done = httpx.get(f"{base}/jobs/current").json()
        assert done["state"] == "succeeded", (done["error"], done["message"])
        assert done["version"] is not None


@pytest.mark.parametrize("how", ["keep-faces", "no-blur"])
def test_kept_frames_keep_faces_only_when_asked_and_none_without_the_blur(
    workspace: Workspace, first: TrainResult, photos: list[tuple[bytes, int]], tmp_path_factory: pytest.TempPathFactory,
    how: str,
) -> None:  # fmt: skip
    """KEEP_FACES=1: disagreements are kept as sent. The blur's model missing: none is kept, and /health says why."""
    from skimage import data as samples

    face = cv2.cvtColor(samples.astronaut(), cv2.COLOR_RGB2BGR)[0:220, 120:340]
    frames = []
    for data, _ in photos[:24]:
        frame = np.zeros((480, 860, 3), np.uint8)
        frame[:450, :600] = cv2.resize(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), (600, 450))
        frame[:220, 630:850] = face
        frames.append(cv2.imencode(".png", frame)[1].tobytes())
    root = tmp_path_factory.mktemp(f"review-{how}")
    env = {"KEEP_FACES": "1"} if how == "keep-faces" else {"FACE_BLUR_MODEL": str(root / "missing.onnx")}
    with teach_server(
        workspace, str(first.model_version), f"review-{how}", root, MONITOR_SAMPLE="1", MONITOR_QUEUE="64",
        MONITOR_CPU="1", MONITOR_KEEP="1", **env,
    ) as base:  # fmt: skip
        for data in frames:
            answer = httpx.post(f"{base}/predict", files={"file": ("f.png", data, "image/png")}, timeout=60)
            assert answer.status_code == 200, answer.text
        status = settled(base)
        kept = httpx.get(f"{base}/monitor/review").json()
        privacy = httpx.get(f"{base}/health").json()["privacy"]
        if how == "no-blur":
            assert status["totals"]["judged"] > 0  # the teacher judged, and disagreed at times ...
            assert kept == []  # ... but no frame reached the disk
            assert privacy["stored_frames"] == "not stored"
            assert "missing.onnx is missing" in privacy["reason"]
            assert not list((root / "collections").glob("_pending-review/*.jpg"))
            return
        assert privacy["stored_frames"] == "with faces"
        assert kept, "a miscounting version disagrees with the teacher on some of 24 real photos"
        image = httpx.get(f"{base}/monitor/review/{kept[0]['id']}/image")
        stored = cv2.imdecode(np.frombuffer(image.content, np.uint8), cv2.IMREAD_COLOR)
        assert np.abs(stored[:220, 630:850].astype(int) - face.astype(int)).mean() < 6  # only JPEG
