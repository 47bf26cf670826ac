"""Production monitoring without labels: the hand-landmark teacher judges a sample of live frames.

Every `MONITOR_SAMPLE`-th prediction (/predict and the WebSocket alike) hands its frame — the very
image the model saw, after face blur when that was on — to one background thread through a
bounded queue; a prediction never waits for it, and a sample that finds the queue full, or the
judge resting within its share of a core (`MONITOR_CPU`), is dropped and counted. The thread ships
each sample to a judge process that runs the teacher at the lowest CPU priority, so judging takes
what inference leaves (and never the server's GIL). Per model
version it keeps a rolling window of (model count, teacher count) on frames where the teacher sees
a hand: their agreement, its 95 % interval, and the confusion. The baseline is the agreement the
version had with the teacher on its held-out sets at registration (`eval/<set>/teacher_agreement`);
a version registered without teacher figures is held to the baseline of the version this server
judged before it (a swap must not do worse). When the window's 95 % interval lies wholly more than
`MONITOR_ALERT` points below the baseline (and it holds at least MIN_JUDGED frames), the version
drifts and `/health` says `degraded`.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import math
import os
import queue
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fingercount.serving.metrics import ServingMetrics
from fingercount.settings import Settings

log = logging.getLogger(__name__)
Z95 = 1.96
MIN_JUDGED = 20  # frames a window needs before it can raise the alarm, whatever its interval


@dataclass(frozen=True)
class Sample:
    frame: np.ndarray  # as predicted (blurred when the request was)
    model_count: int
    version: str
    metrics: dict[str, float]  # the version's registered metrics (the baseline is read from them once)
    blurred: bool


@dataclass(frozen=True)
class Judgement:
    digest: str  # sha1 of the decoded frame's pixels: which frame was judged
    model_count: int
    teacher_count: int
    at: float


@dataclass
class VersionWindow:
    window: deque[Judgement]
    baseline: float | None
    baseline_from: str
    judged: int = 0  # since the server started, not just the window
    skipped: int = 0

    def agreement(self) -> tuple[float | None, tuple[float, float] | None]:
        n = len(self.window)
        if n == 0:
            return None, None
        agreed = sum(j.model_count == j.teacher_count for j in self.window)
        return agreed / n, wilson(agreed, n)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (sound at small n and near 0 or 1)."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def baseline_of(metrics: dict[str, float]) -> float | None:
    """A version's agreement with the teacher on its held-out sets at registration, pooled over the sets."""
    pooled = judged = 0.0
    for key, value in metrics.items():
        if key.startswith("eval/") and key.endswith("/teacher_agreement"):
            n = metrics.get(key.removesuffix("agreement") + "judged", 0.0)
            pooled, judged = pooled + value * n, judged + n
    return pooled / judged if judged else None


@dataclass
class Monitor:
    settings: Settings
    metrics: ServingMetrics
    review: Any = None  # ReviewStore when MONITOR_KEEP
    _queue: queue.Queue[Sample | None] = field(init=False)
    _counter: Any = field(default_factory=itertools.count, init=False)
    _versions: dict[str, VersionWindow] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _last: VersionWindow | None = field(default=None, init=False)  # the latest window with a baseline
    _thread: threading.Thread | None = field(default=None, init=False)
    unavailable: str | None = field(default=None, init=False)
    sampled: int = field(default=0, init=False)
    dropped: int = field(default=0, init=False)
    unreadable: int = field(default=0, init=False)
    runs: int = field(default=0, init=False)  # teacher calls, and their total seconds
    seconds: float = field(default=0.0, init=False)
    _rest_until: float = field(default=0.0, init=False)  # time.monotonic() the judge takes samples again

    def __post_init__(self) -> None:
        self._queue = queue.Queue(maxsize=self.settings.monitor_queue)

    @property
    def rate(self) -> int:
        return self.settings.monitor_sample

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.unavailable is None

    def start(self) -> None:
        if self.rate <= 0:
            return
        from fingercount.labeling.teacher import unavailable_reason

        self.unavailable = unavailable_reason()
        if self.unavailable is not None:
            log.warning("monitoring off: %s", self.unavailable)
            return
        self._thread = threading.Thread(target=self._run, name="monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            # A judge still starting (spawn + MediaPipe, a few seconds) is not waited for: its thread is
            # a daemon and the child a daemonic process, ended when the server's process exits.
            self._thread.join(timeout=3)
            self._thread = None

    def offer(self, frame: np.ndarray, model_count: int, info: Any, blurred: bool) -> None:
        """Called after every prediction, on its worker thread: O(1), never blocks."""
        if not self.enabled or next(self._counter) % self.rate:
            return
        self.sampled += 1
        version = str(info.version)
        if time.monotonic() < self._rest_until:  # the judge is within its CPU share: not now
            self._drop(version)
            return
        try:
            self._queue.put_nowait(Sample(frame, model_count, version, info.metrics, blurred))
        except queue.Full:
            self._drop(version)

    def _drop(self, version: str) -> None:
        self.dropped += 1
        self.metrics.monitor_dropped.labels(version).inc()

    def _run(self) -> None:
        try:
            judge = Judge()
        except Exception as exc:  # the child could not start: say so in /monitor, serve on
            self.unavailable = f"the judge process did not start: {exc}"
            log.exception("monitoring off")
            return
        with judge:
            while (sample := self._queue.get()) is not None:
                if time.monotonic() < self._rest_until:  # queued while the last one was judged
                    self._drop(sample.version)
                    continue
                try:
                    self._judge(judge, sample)
                except JudgeGone as exc:
                    self.unavailable = str(exc)
                    log.error("monitoring off: %s", exc)
                    return
                except Exception:  # e.g. the review folder unwritable: the judge goes on
                    log.exception("monitoring could not record a judged frame")

    def _judge(self, judge: Judge, sample: Sample) -> None:
        started = time.perf_counter()
        try:
            hands, digest = judge.label(sample.frame)
        except UnreadableFrame as exc:  # skipped and counted, never the client's error
            self.unreadable += 1
            self.metrics.monitor_unreadable.labels(sample.version).inc()
            log.debug("teacher could not read a sampled frame: %s", exc)
            return
        finally:
            elapsed = time.perf_counter() - started
            self.runs += 1
            self.seconds += elapsed
            self._rest_until = time.monotonic() + elapsed * (1 / self.settings.monitor_cpu - 1)
        teacher_count = sum(hand.count for hand in hands)
        if self.review is not None and hands and sample.model_count != teacher_count and len(hands) == 1:
            # Kept before it counts as judged: once /monitor says every sample is judged, all are stored.
            self.review.keep(sample, hands[0], teacher_count, digest)
        with self._lock:
            window = self._versions.get(sample.version)
            if window is None:
                baseline = baseline_of(sample.metrics)
                window = VersionWindow(deque(maxlen=self.settings.monitor_window), baseline, "held-out sets")
                if baseline is None and self._last is not None:  # registered without teacher figures
                    window.baseline, window.baseline_from = self._last.baseline, self._last.baseline_from
                self._versions[sample.version] = window
            if window.baseline is not None:
                self._last = window
            if not hands:
                window.skipped += 1
                self.metrics.monitor_skipped.labels(sample.version).inc()
                return
            window.window.append(Judgement(digest, sample.model_count, teacher_count, time.time()))
            window.judged += 1
            agreement, _ = window.agreement()
            drifting = self._drift(window) is not None
        self.metrics.monitor_judged.labels(sample.version).inc()
        self.metrics.monitor_agreement.labels(sample.version).set(agreement or 0.0)
        self.metrics.monitor_drift.labels(sample.version).set(1 if drifting else 0)
        if window.baseline is not None:
            self.metrics.monitor_baseline.labels(sample.version).set(window.baseline)

    def _drift(self, window: VersionWindow) -> str | None:
        agreement, interval = window.agreement()
        if window.baseline is None or agreement is None or interval is None or len(window.window) < MIN_JUDGED:
            return None
        floor = window.baseline - self.settings.monitor_alert / 100
        if interval[1] >= floor:
            return None
        return (
            f"teacher agreement {agreement:.0%} over the last {len(window.window)} judged frames "
            f"(95% interval up to {interval[1]:.0%}) is more than {self.settings.monitor_alert:g} points below "
            f"the baseline {window.baseline:.0%} ({window.baseline_from})"
        )

    def drift(self, version: str) -> str | None:
        with self._lock:
            window = self._versions.get(version)
            return None if window is None else self._drift(window)

    def status(self, version: str | None, frames: bool = False, count_head: str = "classes") -> dict[str, Any]:
        """What `/monitor` answers: the served version's window, and every version's agreement, and
        what that agreement judges with the version's count head."""
        with self._lock:
            window = self._versions.get(version) if version is not None else None
            agreement, interval = window.agreement() if window else (None, None)
            confusion: dict[str, dict[str, int]] = {}
            for judged in window.window if window else ():
                row = confusion.setdefault(str(judged.model_count), {})
                row[str(judged.teacher_count)] = row.get(str(judged.teacher_count), 0) + 1
            versions = {
                v: {"agreement": w.agreement()[0], "judged": len(w.window), "baseline": w.baseline}
                for v, w in self._versions.items()
            }
            total_judged = sum(w.judged for w in self._versions.values())
            body: dict[str, Any] = {
                "enabled": self.enabled,
                "reason": self.unavailable if self.rate > 0 else "MONITOR_SAMPLE=0",
                "judges": judges(count_head),
                "sample_rate": self.rate,
                "window": self.settings.monitor_window,
                "version": version,
                "judged": len(window.window) if window else 0,
                "agreement": agreement,
                "interval": list(interval) if interval else None,
                "baseline": window.baseline if window else None,
                "baseline_from": window.baseline_from if window else None,
                "alert_points": self.settings.monitor_alert,
                "drift": (self._drift(window) if window else None),
                "confusion": confusion,
                "totals": {
                    "sampled": self.sampled,
                    "judged": total_judged,
                    "skipped": sum(w.skipped for w in self._versions.values()),
                    "dropped": self.dropped,
                    "unreadable": self.unreadable,
                    "teacher_ms": round(1000 * self.seconds / max(1, self.runs), 2),
                },
                "versions": versions,
                "kept": self.review.size() if self.review is not None else None,
            }
            if frames and window:
                body["frames"] = [vars(j) for j in window.window]
        return body


def judges(count_head: str) -> dict[str, Any]:
    """What the teacher's agreement measures when the served version counts with `count_head`: with a
    head that asks the landmark model itself, agreement is partly the model agreeing with itself."""
    if count_head == "classes":
        return {"independent": True, "what": "the detector's counts, judged by the hand-landmark model"}
    if count_head == "keypoints":
        what = "the model's counts from its own keypoints (no landmark model at serving), judged by the landmark model"
        return {"independent": True, "what": what}
    if count_head in ("landmarks", "arbitrated"):
        what = (
            "the detector's boxes: their counts come from the same landmark model on each box's crop"
            + (" where the detector is unsure" if count_head == "arbitrated" else "")
            + ", so agreement is not an accuracy; a fall still means boxes missed or extra"
        )
    else:
        what = (
            "little: the served count is the landmark model's own on the whole frame wherever "
            + {
                "photo+landmarks": "it finds a hand",
                "sure+photo": "the detector is unsure and it finds a hand",
            }.get(count_head, "the detector finds none")
            + ", so agreement there is the model agreeing with itself, not an accuracy"
        )
    return {"independent": False, "what": what}


@dataclass(frozen=True)
class JudgedHand:
    count: int
    box: tuple[float, ...]


class UnreadableFrame(Exception):
    """The teacher failed on this frame."""


class JudgeGone(Exception):
    """The judge process died."""


class Judge:
    """The teacher in a child process at the lowest CPU priority. In a thread of the server it would
    hold the GIL while its (niced) thread waits for a core, and stall the requests behind it; the
    server's thread only ships frames and waits on a pipe, with the GIL released."""

    def __init__(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_judge_main, args=(child,), name="fingercount-judge", daemon=True)
        self._process.start()
        child.close()
        ready = self._conn.recv() if self._conn.poll(120) else "no answer in 120 s"
        if ready != "ready":
            self.close()
            raise JudgeGone(f"the teacher did not start in the judge process: {ready}")

    def label(self, frame: np.ndarray) -> tuple[list[JudgedHand], str]:
        data = np.ascontiguousarray(frame)
        try:
            self._conn.send((data.shape, data.dtype.str))
            self._conn.send_bytes(data.data.cast("B"))
            answer, payload, digest = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise JudgeGone(f"the judge process stopped ({exc or 'no answer'})") from exc
        if answer != "ok":
            raise UnreadableFrame(payload)
        return [JudgedHand(int(count), tuple(box)) for count, box in payload], digest

    def close(self) -> None:
        self._conn.close()  # the child reads EOF and exits
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _judge_main(conn: Any) -> None:
    """The judge process: frames in, (count, box) per hand and the frame's sha1 out, until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the server ends us (EOF)
    with contextlib.suppress(OSError):
        os.nice(19)
    with contextlib.suppress(OSError, AttributeError):  # no affinity calls on macOS
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, cores[-1:])  # the teacher's thread pool on one core, not all of them
    try:
        from fingercount.labeling.photo import photo_hands
        from fingercount.labeling.teacher import HandTeacher

        teacher = HandTeacher()
    except Exception as exc:
        conn.send(f"{type(exc).__name__}: {exc}")
        return
    conn.send("ready")
    with teacher:
        while True:
            try:
                shape, dtype = conn.recv()
                data = conn.recv_bytes()
            except (EOFError, OSError):
                return
            digest = hashlib.sha1(data, usedforsecurity=False).hexdigest()
            try:
                hands = photo_hands(teacher, np.frombuffer(data, dtype).reshape(shape))
                conn.send(("ok", [(hand.count, hand.box) for hand in hands], digest))
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {exc}", digest))


REVIEW_ID = r"^\d{13}-[0-9a-f]{6}$"


class ReviewStore:
    """Disagreements kept for a person to judge (MONITOR_KEEP=1): `<id>.jpg` + `<id>.json` in one
    folder, capped in frames and bytes (the oldest go first). Only frames where the teacher sees
    exactly one hand are kept: a collection frame holds one boxed hand. A reviewed frame moves to
    the `review` collection with the count the person gave, and the teach loop trains on it."""

    COLLECTION = "review"

    def __init__(self, folder: Any, max_frames: int, max_bytes: int, storage: Any) -> None:
        self.folder = folder
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.storage = storage  # serving.privacy.FrameStorage: faces blurred unless KEEP_FACES=1
        self._lock = threading.Lock()

    def keep(self, sample: Sample, hand: Any, teacher_count: int, digest: str) -> None:
        import json
        import uuid

        import cv2

        from fingercount.preprocessing.face_blur import FaceBlurUnavailableError

        try:
            frame = self.storage.for_disk(sample.frame, blurred=sample.blurred)
        except FaceBlurUnavailableError:
            return  # not kept; the reason was logged once and /health shows it
        ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            return
        frame_id = f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:6]}"
        record = {
            "id": frame_id, "model_count": sample.model_count, "teacher_count": teacher_count,
            "version": sample.version, "box": [round(v, 1) for v in hand.box], "digest": digest,
            "created": time.time(),
        }  # fmt: skip
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{frame_id}.jpg").write_bytes(encoded.tobytes())
            temporary = self.folder / f".{frame_id}.json"
            temporary.write_text(json.dumps(record))
            temporary.rename(self.folder / f"{frame_id}.json")  # listed only once complete
            self._trim()

    def _trim(self) -> None:
        records = sorted(self.folder.glob("*.json"))  # ids sort by time
        sizes = {path: path.with_suffix(".jpg").stat().st_size for path in records}
        total = sum(sizes.values())
        while records and (len(records) > self.max_frames or total > self.max_bytes):
            oldest = records.pop(0)
            total -= sizes[oldest]
            oldest.unlink(missing_ok=True)
            oldest.with_suffix(".jpg").unlink(missing_ok=True)

    def size(self) -> int:
        return len(list(self.folder.glob("*.json"))) if self.folder.is_dir() else 0

    def list(self) -> list[dict[str, Any]]:
        import json

        if not self.folder.is_dir():
            return []
        return [json.loads(path.read_text()) for path in sorted(self.folder.glob("*.json"), reverse=True)]

    def image(self, frame_id: str) -> Any:
        from fingercount.errors import NotFoundError

        path = self.folder / f"{frame_id}.jpg"
        if not (self.folder / f"{frame_id}.json").is_file() or not path.is_file():
            raise NotFoundError(f"no kept frame {frame_id!r} (reviewed, deleted or dropped by the cap)")
        return path

    def delete(self, frame_id: str) -> None:
        with self._lock:
            path = self.image(frame_id)
            (self.folder / f"{frame_id}.json").unlink(missing_ok=True)
            path.unlink(missing_ok=True)

    def resolve(self, frame_id: str, count: int, collections: Any) -> dict[str, Any]:
        """The person's count: the frame joins the `review` collection, boxed by the teacher's hand."""
        import json

        import cv2

        from fingercount.errors import DatasetError

        with self._lock:
            path = self.image(frame_id)
            record = json.loads((self.folder / f"{frame_id}.json").read_text())
            image = cv2.imread(str(path))
            if image is None:
                raise DatasetError(f"kept frame {frame_id} cannot be read; delete it")
            added = collections.add(self.COLLECTION, image, count, record["teacher_count"], tuple(record["box"]))
            (self.folder / f"{frame_id}.json").unlink(missing_ok=True)
            path.unlink(missing_ok=True)
        return {
            "id": frame_id, "count": count, "collection": self.COLLECTION,
            "frame": added.to_dict() if added is not None else None,
            "duplicate": added is None,
        }  # fmt: skip
