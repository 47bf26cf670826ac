"""Threads and bf16 reach a real Ultralytics training (in a subprocess: both are process-wide)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CONFIGS

SCRIPT = """
import json, os, sys
from pathlib import Path
import torch
from fingercount.config import load_training_config
from fingercount.training import trainer

config = load_training_config(Path("configs/test_config.yaml"))
amp = sys.argv[1] if sys.argv[1] == "bf16" else False
threads = os.cpu_count() + 1
config = config.model_copy(update={
    "training": config.training.model_copy(update={"epochs": 1, "threads": threads, "amp": amp, "workers": 0}),
    "device": "cpu",
})
seen = {}

def record(trainer_):
    first_conv = next(m for m in trainer_.model.modules() if isinstance(m, torch.nn.Conv2d))
    seen["threads"] = torch.get_num_threads()
    seen["channels_last"] = first_conv.weight.is_contiguous(memory_format=torch.channels_last)
    def dtype(module, inputs, output):  # returns None: the output is left as it is
        seen.setdefault("conv_dtype", str(output.dtype))
    first_conv.register_forward_hook(dtype)

import ultralytics
original = ultralytics.YOLO
def with_recorder(*a, **k):  # fit() imports YOLO from ultralytics when it runs
    model = original(*a, **k)
    model.add_callback("on_train_start", record)
    return model
ultralytics.YOLO = with_recorder
source = trainer.model_source(config)
data_yaml = trainer.prepare_dataset(config, progress=False).out / "data.yaml"
trainer.fit(config, data_yaml, source, Path("runs"), "run", progress=False)
print(json.dumps(seen))
"""


@pytest.mark.parametrize("amp", ["f32", "bf16"])
def test_threads_and_precision_reach_the_training(amp: str, tmp_path: Path) -> None:
    shutil.copytree(CONFIGS, tmp_path / "configs")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, amp], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    threads = (os.cpu_count() or 1) + 1  # a number Ultralytics (cpu_count - 1) never picks
    if amp == "bf16":  # Ultralytics alone refuses bf16 autocast off CUDA
        assert seen == {"threads": threads, "channels_last": True, "conv_dtype": "torch.bfloat16"}
    else:
        assert seen == {"threads": threads, "channels_last": False, "conv_dtype": "torch.float32"}
