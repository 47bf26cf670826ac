"""Engine choice: ONNX first where ONNX Runtime has a GPU, and the name says where it really runs."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from fingercount.inference import engines
from fingercount.inference.engines import build_engine, onnx_gpu_providers


@pytest.fixture
def identity_onnx(tmp_path: Path) -> Path:
    """A real (trivial) ONNX model: enough for ONNX Runtime to open a session on it."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["images"], ["output0"])],
        "identity",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3, 32, 32])],
    )
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_gpu_providers_are_read_from_what_onnx_runtime_has() -> None:
    assert onnx_gpu_providers(["CPUExecutionProvider"]) == []
    assert onnx_gpu_providers(["CUDAExecutionProvider", "CPUExecutionProvider"]) == ["CUDAExecutionProvider"]
    assert onnx_gpu_providers() == []  # this machine: the CPU-only onnxruntime package


def test_auto_prefers_openvino_on_the_cpu(identity_onnx: Path) -> None:
    # No OpenVINO file here: ONNX is the next choice, on the CPU.
    engine = build_engine({"onnx": identity_onnx}, 32, ["1"], "auto", threads=1)
    assert engine.name == "onnx"
    assert engines.ENGINE_ORDER[0] == "openvino"


def test_auto_puts_onnx_first_with_a_gpu_and_falls_back_to_the_cpu_without_a_device(
    identity_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An install that offers CUDA gets ONNX ahead of OpenVINO; where the provider finds no device
    (simulated here: this machine has neither), the session runs on the CPU and says `onnx`."""
    monkeypatch.setattr(engines, "onnx_gpu_providers", lambda available=None: ["CUDAExecutionProvider"])
    not_openvino = tmp_path / "model.xml"  # would fail to load if OpenVINO were tried first
    engine = build_engine({"openvino": not_openvino, "onnx": identity_onnx}, 32, ["1"], "auto", threads=1)
    assert engine.name == "onnx"
