"""Training jobs started from the dashboard: `fingercount teach` in its own process, one at a time.

The server never trains in its own process or threads: it starts the CLI as a child process,
reads the progress lines the child writes (JSON, one per event), and, when the child succeeds,
loads the alias it promoted so the Live page shows the new version. A job that fails, is
cancelled or dies leaves the old model serving; its MLflow run is ended FAILED or KILLED even if
the child could not say so itself (killed with SIGKILL, out of memory).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fingercount.errors import ConflictError, FingercountError, NotFoundError, TrainingUnavailableError
from fingercount.processes import guarded_pid, kill_group, start_guarded
from fingercount.serving.model_manager import ModelManager
from fingercount.settings import Settings

log = logging.getLogger(__name__)
CANCEL_GRACE = 30.0  # seconds a cancelled child gets to end its run KILLED before it is killed
STOP_GRACE = 2.0  # the same when the server stops: a person waits for the prompt (the run still ends KILLED)


@dataclass
class Job:
    id: str
    collection: str
    parent: str | None  # models:/NAME/VERSION the job fine-tunes
    state: str = "running"  # running | succeeded | failed | cancelled
    phase: str = "starting"
    started: float = field(default_factory=time.time)
    ended: float | None = None
    epoch: int = 0
    epochs: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None
    pid: int | None = None
    version: str | None = None
    promoted: bool | None = None
    message: str = ""
    error: str | None = None
    config: str | None = None  # a `train` job's config (a `teach` job names its collection)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TrainingJobs:
    def __init__(self, settings: Settings, manager: ModelManager) -> None:
        self.settings = settings
        self.manager = manager
        self.folder = settings.collections_path().parent / "jobs"
        self._lock = threading.Lock()
        self._job: Job | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._watcher: threading.Thread | None = None
        self._cancelled = False
        self._stopping_since: float | None = None

    def current(self) -> Job:
        if self._job is None:
            raise NotFoundError("no training job has been started yet")
        return self._job

    def start(self, collection: str, epochs: int | None = None) -> Job:
        """`fingercount teach COLLECTION`, fine-tuning the serving version (the dashboard's Collect page)."""
        serving = self.manager.current()
        parent = None if serving is None else f"models:/{serving.info.name}/{serving.info.version}"
        command = [
            "teach", collection,
            "--config", str(self.settings.teach_config),
            "--collections-dir", str(self.settings.collections_path()),
            "--model-name", self.settings.model_name,
            "--alias", self.settings.serving_alias(),
        ]  # fmt: skip
        if parent is not None:
            command += ["--parent", parent]
        if epochs is not None:
            command += ["--epochs", str(epochs)]
        return self._launch(Job(uuid.uuid4().hex[:12], collection, parent), command)

    def start_training(self, config: Path) -> Job:
        """`fingercount train -t CONFIG`: a training config that registers and promotes by its own gate
        (the demo's fine-tune of the shipped checkpoint, while the server already serves it)."""
        job = Job(uuid.uuid4().hex[:12], "", None, config=str(config))
        return self._launch(job, ["train", "--training-config", str(config)])

    def _launch(self, job: Job, arguments: list[str]) -> Job:
        """Run `fingercount ARGUMENTS` as the job, guarded, with its progress written as JSON lines."""
        if importlib.util.find_spec("ultralytics") is None:
            what = " ".join(arguments[:2])
            raise TrainingUnavailableError(
                "this server cannot train (no PyTorch/Ultralytics in its image): run the job in the training "
                f"container, `docker compose run --rm training fingercount {what}`; with MODEL_FOLLOW "
                "the server then serves the promoted version"
            )
        with self._lock:
            if self._job is not None and self._job.state == "running":
                raise ConflictError(f"job {self._job.id} is still running: wait for it or cancel it first")
            self.folder.mkdir(parents=True, exist_ok=True)
            progress = self.folder / f"{job.id}.jsonl"
            command = [sys.executable, "-m", "fingercount", *arguments, "--progress-file", str(progress), "--quiet"]
            env = {
                **os.environ,
                "MLFLOW_TRACKING_URI": self.settings.tracking_uri(),
                "MODEL_CACHE_DIR": str(self.settings.model_cache_dir),
            }
            artifacts = self.settings.artifact_location()
            if artifacts:
                env["MLFLOW_ARTIFACT_ROOT"] = artifacts
            stderr = open(self.folder / f"{job.id}.log", "wb")  # noqa: SIM115  (closed by the watcher)
            self._process = start_guarded(command, stdout=stderr, stderr=subprocess.STDOUT, env=env)
            job.pid = guarded_pid(self._process)  # the training process, not its guard
            self._job, self._cancelled = job, False
            self._watcher = threading.Thread(
                target=self._watch, args=(job, self._process, progress, stderr), name=f"job-{job.id}", daemon=True
            )
            self._watcher.start()
            return job

    def cancel(self) -> Job:
        job = self.current()
        process = self._process
        if job.state != "running" or process is None:
            raise ConflictError(f"job {job.id} is not running ({job.state})")
        self._cancelled = True
        job.message = "cancelling: the run ends KILLED, the old model keeps serving"
        process.send_signal(signal.SIGINT)  # the child ends its MLflow run KILLED, then exits
        return job

    def begin_shutdown(self) -> None:
        """The server is stopping: a running job gets its signal now (no wait; a signal handler calls
        this), so that it stops while the server and anything else stop too."""
        if self._stopping_since is None:
            self._stopping_since = time.monotonic()
        if self._job is not None and self._job.state == "running" and not self._cancelled:
            self.cancel()

    def shutdown(self, grace: float = STOP_GRACE) -> None:
        """Server stopping: a running job is cancelled, not orphaned. It gets `grace` seconds from the
        stop to end its run KILLED itself; then its process group is killed and the run is ended
        KILLED from here (the watcher does it as the process goes)."""
        self.begin_shutdown()
        process, watcher = self._process, self._watcher
        if process is None or (process.poll() is not None and (watcher is None or not watcher.is_alive())):
            return
        deadline = (self._stopping_since or time.monotonic()) + grace
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_group(process)
            process.wait()
        if watcher is not None:
            watcher.join(timeout=5)  # it reads the last progress and ends the run: a few registry calls

    def _watch(self, job: Job, process: subprocess.Popen[bytes], progress: Path, output: Any) -> None:
        offset = 0
        cancel_deadline: float | None = None
        while True:
            offset = self._read_progress(job, progress, offset)
            if process.poll() is not None:
                break
            if self._cancelled and cancel_deadline is None:
                cancel_deadline = time.monotonic() + CANCEL_GRACE
            if cancel_deadline is not None and time.monotonic() > cancel_deadline:
                kill_group(process)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.3)  # wakes the moment the child exits (a stop waits on this)
        output.close()
        self._read_progress(job, progress, offset)
        job.ended = time.time()
        if process.returncode == 0 and job.version is not None:
            self._follow(job)  # before the state says so: a client that sees "succeeded" sees the new model
            job.state = "succeeded"
            return
        job.state = "cancelled" if self._cancelled else "failed"
        if job.error is None:
            job.error = (
                "cancelled" if self._cancelled else _last_line(self.folder / f"{job.id}.log", process.returncode)
            )
        self._end_run(job)

    def _read_progress(self, job: Job, progress: Path, offset: int) -> int:
        if not progress.is_file():
            return offset
        with progress.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next read
        for line in complete.splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            for key in ("phase", "epoch", "epochs", "run_id", "version", "promoted", "message", "error"):
                if key in event:
                    setattr(job, key, event[key])
            job.metrics.update(event.get("metrics", {}))
        return offset + len(complete)

    def _follow(self, job: Job) -> None:
        """Serve what the alias points to now (the new version if the gate promoted it)."""
        try:
            self.manager.load(self.settings.model_name, alias=self.settings.serving_alias())
        except FingercountError as exc:
            job.message = f"trained and registered, but the server could not load it: {exc}"

    def _end_run(self, job: Job) -> None:
        """A child that died without ending its run (SIGKILL, out of memory) must not leave it RUNNING."""
        if job.run_id is None:
            return
        status = "KILLED" if self._cancelled else "FAILED"
        try:
            self.manager.registry.end_run_if_running(job.run_id, status, job.error or status.lower())
        except Exception:  # the registry may be down too; the job's own state still says what happened
            log.exception("could not end run %s", job.run_id)


def _last_line(path: Path, returncode: int | None) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()] if path.is_file() else []
    errors = [line for line in lines if line.startswith("error:")]
    if errors:
        return errors[-1].removeprefix("error:").strip()
    if returncode is not None and returncode < 0:
        return f"the training process was killed (signal {-returncode})"
    return lines[-1][:500] if lines else f"the training process exited with code {returncode}"
