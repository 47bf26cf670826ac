"""A process that built and dropped OpenVINO engines still survives Ctrl-C.

OpenVINO's CPU plugin installs an alternate signal stack per plugin and unmaps it when the plugin
goes; plugins dropped out of order or on another thread left the thread's signal stack pointing at
unmapped memory, and the next SIGINT killed the process with SIGSEGV (the demo's Ctrl-C on AMD
EPYC, issue 24). Run in a child process: the failure is a crash.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent(
    """
    import ctypes, os, signal, sys, threading
    from pathlib import Path

    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    from fingercount.inference.engines import OpenVinoEngine
    from fingercount.training.precision import bf16_available

    xml = Path(sys.argv[1])
    image = ops.parameter([1, 3, 32, 32], np.float32)
    ov.save_model(ov.Model([ops.relu(image)], [image]), xml)

    class Stack(ctypes.Structure):
        _fields_ = [("sp", ctypes.c_void_p), ("flags", ctypes.c_int), ("size", ctypes.c_size_t)]

    def signal_stack_is_mapped():
        stack = Stack()
        ctypes.CDLL(None).sigaltstack(None, ctypes.byref(stack))
        if stack.flags & 2 or not stack.sp:  # SS_DISABLE: the handler runs on the thread's own stack
            return True
        for line in open("/proc/self/maps"):
            low, high = (int(part, 16) for part in line.split()[0].split("-"))
            if low <= stack.sp < high:
                return True
        return False

    first = OpenVinoEngine(xml, 32, ["1"], threads=1)  # on the main thread, as evaluation does
    second = OpenVinoEngine(xml, 32, ["1"], threads=1)
    bf16_available()
    del first  # out of order
    elsewhere = [OpenVinoEngine(xml, 32, ["1"], threads=1)]
    dropper = threading.Thread(target=elsewhere.clear)  # dropped on another thread, as a model swap does
    dropper.start()
    dropper.join()
    del second
    if len(sys.argv) > 2:  # INT8 as training makes it (NNCF makes and drops Cores of its own)
        import cv2
        from fingercount.training.export import quantize_openvino
        photos = [xml.with_name(f"{i}.jpg") for i in range(4)]
        for i, photo in enumerate(photos):
            cv2.imwrite(str(photo), np.full((48, 64, 3), 40 * i, np.uint8))
        quantize_openvino(xml, photos, 32, xml.parent / "int8")
    print("signal stack mapped:", signal_stack_is_mapped(), flush=True)
    signal.signal(signal.SIGINT, lambda *_: print("Ctrl-C handled", flush=True))
    os.kill(os.getpid(), signal.SIGINT)
    """
)


@pytest.mark.parametrize("int8", [False, True], ids=["engines", "engines+int8"])
def test_ctrl_c_after_engines_were_built_and_dropped_in_any_order(tmp_path: Path, int8: bool) -> None:
    command = [sys.executable, "-c", CHILD, str(tmp_path / "relu.xml"), *(["int8"] if int8 else [])]
    child = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, f"exit {child.returncode}\n{child.stdout}{child.stderr[-2000:]}"
    assert "signal stack mapped: True" in child.stdout
    assert "Ctrl-C handled" in child.stdout
