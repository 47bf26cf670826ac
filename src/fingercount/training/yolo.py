"""The Ultralytics boundary: settings, model sources, training arguments.

Ultralytics is imported lazily (it is slow to import and pulls in torch).
"""

from __future__ import annotations

import copy
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from fingercount.config import ARCHITECTURES, TrainingConfig
from fingercount.errors import ConfigError

log = logging.getLogger(__name__)

# A pose model's keypoints (`model.landmarks`): the teacher's 21 hand landmarks, x, y and visibility
# (0: not labelled, 2: visible).
KPT_SHAPE = [21, 3]
# Integrations that would log on their own (a second MLflow run, analytics); we own tracking.
_INTEGRATIONS = ("mlflow", "sync", "clearml", "comet", "dvc", "raytune", "tensorboard", "wandb", "hub")


def quiet_ultralytics() -> None:
    """Turn Ultralytics' integrations off for this process only.

    `SETTINGS.update()` would persist to the user's global settings file; writing the dict
    directly changes nothing on disk.
    """
    from ultralytics.utils import SETTINGS

    for key in _INTEGRATIONS:
        if key in SETTINGS:
            dict.__setitem__(SETTINGS, key, False)


def _online(host: str = "github.com", timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def model_source(config: TrainingConfig) -> str:
    """What to hand to `YOLO(...)`: an architecture YAML (scratch) or a weights file."""
    stem = ARCHITECTURES[config.model.architecture]
    if config.model.weights is not None:
        from fingercount.checkpoints import checkpoint_path, shipped

        if config.model.weights in shipped():
            return str(checkpoint_path(config.model.weights))
        if not Path(config.model.weights).is_file():
            names = ", ".join(shipped()) or "none"
            raise ConfigError(
                f"model.weights: {config.model.weights} is neither a file nor a shipped checkpoint ({names})"
            )
        return str(config.model.weights)
    if not config.model.pretrained:
        return f"{stem}.yaml"
    weights = f"{stem}.pt"
    from ultralytics.utils import SETTINGS

    local = [Path(weights), Path(SETTINGS.get("weights_dir", ".")) / weights]
    for candidate in local:
        if candidate.is_file():
            return str(candidate)
    if os.environ.get("YOLO_OFFLINE", "").lower() in {"1", "true"} or not _online():
        raise ConfigError(
            f"model.pretrained: {weights} is not on this machine and cannot be downloaded (offline); "
            f"set model.pretrained: false to train from scratch, or model.weights: /path/to/{weights}"
        )
    return weights


class UseThreads:
    """Ultralytics' select_device sets torch to cpu_count - 1 threads (one of two cores here).

    Called at the end of its pretrain routine and at each epoch start, after it has chosen.
    """

    def __init__(self, threads: int | None) -> None:
        self.threads = threads or os.cpu_count() or 1

    def __call__(self, trainer: Any) -> None:
        import torch

        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)


def cpu_has_native_bf16() -> bool:
    """AMX or AVX512-BF16: bf16 matrix units that make bf16 training faster than f32 (elsewhere it is emulated)."""
    import torch

    return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


class CpuBf16:
    """Callback, end of the pretrain routine: bf16 training on a CPU (`amp: bf16` there).

    Ultralytics' `autocast` helper refuses bf16 on anything but CUDA, although torch's CPU autocast
    runs it (oneDNN on AMX). Its trainer module's helper is wrapped for that one case only; the
    model is put in channels_last, the layout oneDNN's bf16 convolutions want (1.7x faster per step
    than f32 for a YOLO11n at 160 px on this project's 2-core AMX machine, docs/benchmarks.md).
    Opt-in (`training.amp: bf16`): on the demo's 22-epoch CPU run it cost 5–9 points of validation
    count accuracy. Without AMX or AVX512-BF16 the CPU emulates bf16, slower than f32: a warning says so.
    """

    def __call__(self, trainer: Any) -> None:
        if trainer.device.type != "cpu" or trainer.args.amp != "bf16":
            return
        import torch
        from ultralytics.engine import trainer as trainer_module

        if not cpu_has_native_bf16():
            log.warning("training.amp: bf16 on a CPU without AMX or AVX512-BF16 is emulated, slower than f32")

        original = trainer_module.autocast
        if not getattr(original, "allows_cpu_bf16", False):

            def autocast(enabled: Any, device: str = "cuda") -> Any:
                if device == "cpu" and enabled is torch.bfloat16:
                    return torch.amp.autocast("cpu", dtype=torch.bfloat16)
                return original(enabled, device)

            autocast.allows_cpu_bf16 = True  # type: ignore[attr-defined]
            trainer_module.autocast = autocast
        trainer.model.to(memory_format=torch.channels_last)
        if getattr(trainer, "ema", None) is not None:
            trainer.ema.ema.to(memory_format=torch.channels_last)


class EpochProgress:
    """One progress bar over epochs (Ultralytics' own output is off): losses and mAP50 as it goes.

    `report`, when given, also receives each epoch as a dict (the dashboard's training jobs).
    """

    def __init__(self, epochs: int, enabled: bool, report: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.epochs = epochs
        self.enabled = enabled
        self.done = 0
        self.report = report
        self.bar: Any = None  # made on the first epoch, in the process that trains (rank 0 with several GPUs)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "bar": None}  # Ultralytics pickles callbacks for DDP; a bar holds a stream

    def __call__(self, trainer: Any) -> None:
        from tqdm import tqdm

        from fingercount.training.tracking import is_main_rank

        if self.done >= self.epochs or not is_main_rank():  # the extra call for the final validation of best.pt
            return
        if self.bar is None:
            self.done = getattr(trainer, "start_epoch", 0)  # a resumed training goes on from its checkpoint
            self.bar = tqdm(
                total=self.epochs, initial=self.done, desc="training", unit="epoch", disable=not self.enabled
            )
        self.done += 1
        loss = trainer.label_loss_items(trainer.tloss, prefix="train")
        metrics = trainer.metrics or {}
        shown = {
            "box_loss": float(loss.get("train/box_loss", 0)),
            "cls_loss": float(loss.get("train/cls_loss", 0)),
            "mAP50": float(metrics.get("metrics/mAP50(B)", 0)),
        }
        self.bar.set_postfix(box=f"{shown['box_loss']:.3f}", cls=f"{shown['cls_loss']:.3f}",
                             mAP50=f"{shown['mAP50']:.3f}", refresh=False)  # fmt: skip
        self.bar.update()
        if self.report is not None:
            self.report({"phase": "training", "epoch": self.done, "epochs": self.epochs, "metrics": shown})

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# Ultralytics' own integrations (its MLflow callback would open a second run).
_INTEGRATION_MODULES = {
    "clearml",
    "comet",
    "dvc",
    "mlflow",
    "neptune",
    "raytune",
    "tensorboard",
    "wb",
    "hub",
    "platform",
    "events",
}


class WithoutIntegrations:
    """Callback, first of the pretrain routine: drops Ultralytics' integration callbacks.

    `quiet_ultralytics` covers this process; with several GPUs Ultralytics builds one trainer per
    GPU in new processes that read the user's settings file, and rank 0 would open its own MLflow
    run. This callback travels with the others into those processes.
    """

    def __call__(self, trainer: Any) -> None:
        for callbacks in trainer.callbacks.values():
            callbacks[:] = [c for c in callbacks if not _is_integration(c)]  # in place: one list is being run


def _is_integration(callback: Any) -> bool:
    module = str(getattr(callback, "__module__", ""))
    return module.startswith("ultralytics.") and module.rsplit(".", 1)[-1] in _INTEGRATION_MODULES


def resolve_device(device: str) -> str | None:
    """'auto' lets Ultralytics pick (first GPU, else CPU)."""
    return None if device == "auto" else device


def train_args(config: TrainingConfig, data_yaml: Path, project: Path, name: str) -> dict[str, Any]:
    """Every config key mapped onto Ultralytics' train() arguments."""
    training = config.training
    return {
        "data": str(data_yaml),
        "imgsz": config.dataset.img_size,
        "seed": config.dataset.seed,
        "deterministic": True,
        "epochs": training.epochs,
        "batch": training.batch_size,
        "lr0": training.lr0,
        "lrf": training.lrf,
        "momentum": training.momentum,
        "weight_decay": training.weight_decay,
        "warmup_epochs": training.warmup_epochs,
        "optimizer": training.optimizer,
        "patience": training.patience,  # 0 disables early stopping in Ultralytics
        "workers": training.workers,
        "cos_lr": training.cos_lr,
        "close_mosaic": training.close_mosaic,
        "amp": training.amp,
        "cache": training.cache,
        "fraction": training.fraction,
        **config.augmentation.model_dump(exclude={"paste"}),  # paste is done before: training/paste.py
        "pretrained": config.model.pretrained or config.model.weights is not None,
        "device": resolve_device(config.device),
        "project": str(project.resolve()),  # a relative project lands under Ultralytics' global runs_dir
        "name": name,
        "exist_ok": True,
        "plots": True,
        "val": True,
        "verbose": False,
    }


def model_task(weights: Path) -> str:
    """A checkpoint's task: `detect`, or `pose` for a model trained with `model.landmarks`."""
    from ultralytics.nn.tasks import guess_model_task, load_checkpoint

    model, _ = load_checkpoint(str(weights))
    return str(guess_model_task(model))


def pose_model(source: str, architecture: str, names: list[str], folder: Path) -> Any:
    """`model.landmarks`: the YOLO to train. `source` itself where it has a pose head already (a
    resumed or fine-tuned pose run); else the architecture's pose model, with these classes and 21
    keypoints, taking from a detection checkpoint every layer but the keypoint branch (its classes
    included: Ultralytics' own load of a detection checkpoint into a pose model of 80 classes drops them)."""
    from ultralytics import YOLO
    from ultralytics.nn.tasks import yaml_model_load

    if source.endswith(".pt") and model_task(Path(source)) == "pose":
        return YOLO(source)
    stem = f"{ARCHITECTURES[architecture]}-pose"
    cfg = yaml_model_load(f"{stem}.yaml")
    cfg.update(nc=len(names), kpt_shape=KPT_SHAPE)
    cfg.pop("yaml_file", None)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))  # the name keeps the scale (n, s…)
    model = YOLO(str(folder / f"{stem}.yaml"), task="pose")
    if source.endswith(".pt"):
        model.load(source)
    return model


def detector_of(weights: Path, folder: Path) -> Path:
    """The boxes and classes of a pose checkpoint as a detection checkpoint (`weights` itself for a
    detection one): Ultralytics' detection validator reads every channel past the box as a class."""
    import torch
    from ultralytics.nn.tasks import DetectionModel, guess_model_task, load_checkpoint

    model, ckpt = load_checkpoint(str(weights))
    if guess_model_task(model) != "pose":
        return weights
    cfg = copy.deepcopy(model.yaml)
    cfg["head"][-1] = [cfg["head"][-1][0], 1, "Detect", ["nc"]]
    cfg.pop("kpt_shape", None)
    detector = DetectionModel(cfg, nc=len(model.names), verbose=False)
    missing, _ = detector.load_state_dict(model.float().state_dict(), strict=False)
    if missing:
        raise ValueError(f"{weights}: the pose model lacks detection layers {missing[:3]}")
    args = {**(getattr(model, "args", None) or {}), "task": "detect"}  # Ultralytics reads the task from these
    detector.names, detector.args, detector.stride = model.names, args, model.stride
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{weights.stem}-boxes.pt"
    train_args = {**(ckpt.get("train_args") or {}), "task": "detect"}
    torch.save({**ckpt, "model": detector.half(), "ema": None, "optimizer": None, "train_args": train_args}, target)
    return target
