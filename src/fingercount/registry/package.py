"""A model version on disk: the one layout that training writes and serving, `eval` and pyfunc read.

```
<root>/artifacts/metadata.json          ModelMetadata (class names, imgsz, count threshold, metrics, sha256)
<root>/artifacts/weights/best.pt        the trained weights (PyTorch; training and the fallback engine)
<root>/artifacts/exports/model.onnx     ONNX Runtime
<root>/artifacts/exports/model_openvino/*.xml + .bin   OpenVINO IR
```
`<root>` is the MLflow model directory of a registered version (MLflow files sit beside
`artifacts/`), or a training's work folder before it is registered.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fingercount.config import POSE_HEADS, CountHead
from fingercount.errors import ModelLoadError

if TYPE_CHECKING:
    from fingercount.inference import Engine

METADATA = "metadata.json"
WEIGHTS = "weights/best.pt"
ONNX = "exports/model.onnx"
OPENVINO_DIR = "exports/model_openvino"
OPENVINO_INT8_DIR = "exports/model_openvino_int8"


class ParentVersion(BaseModel):
    """The registered version a fine-tune started from."""

    uri: str
    name: str
    version: str


class ModelMetadata(BaseModel):
    # Versions registered by a later fingercount may carry more keys: keep them, do not fail.
    model_config = ConfigDict(extra="allow")

    class_names: list[str]
    imgsz: int = Field(gt=0)
    architecture: str = "?"
    count_conf: float = Field(default=0.25, ge=0, le=1)
    metrics: dict[str, float] = Field(default_factory=dict)
    run_id: str | None = None
    parent: ParentVersion | None = None
    sha256: dict[str, str] = Field(default_factory=dict)  # artifact path (relative to artifacts/) -> digest
    # The precision serving runs by default (chosen by the count at registration), and what each measured.
    precision: str = "f32"
    precisions: dict[str, dict[str, float]] = Field(default_factory=dict)  # name -> count_accuracy, ms
    # How a found hand's fingers are counted (registry/count_head.py); versions from before: classes.
    count_head: CountHead = "classes"
    count_sure: float = Field(default=0.7, gt=0, le=1.01)  # the arbitrated head's confidence threshold
    keypoints: int = Field(default=0, ge=0)  # each box's keypoints (a pose model, `model.landmarks`); 0: a detector


def sha256_tree(root: Path) -> dict[str, str]:
    """sha256 of every file under `root`, keyed by its path relative to `root`'s parent."""
    hashes = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        hashes[str(path.relative_to(root.parent))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


class ModelPackage:
    """A model version's directory; `open` reads it, `create` starts one from trained weights."""

    def __init__(self, root: Path, metadata: ModelMetadata) -> None:
        self.root = root
        self.metadata = metadata

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def weights(self) -> Path:
        return self.artifacts / WEIGHTS

    @property
    def exports(self) -> Path:
        return self.artifacts / "exports"

    @property
    def metadata_path(self) -> Path:
        return self.artifacts / METADATA

    @classmethod
    def open(cls, root: Path) -> ModelPackage:
        path = root / "artifacts" / METADATA
        if not path.is_file():
            raise ModelLoadError(f"{root} is not a fingercount model (no artifacts/{METADATA})")
        try:
            metadata = ModelMetadata.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, ValidationError) as exc:
            first = str(exc).splitlines()[0]
            raise ModelLoadError(f"{path} is not valid model metadata: {first}") from None
        return cls(root, metadata)

    @classmethod
    def create(cls, root: Path, weights: Path, metadata: ModelMetadata) -> ModelPackage:
        """A new package in `root` holding a copy of `weights`; add the exports, then `save()`."""
        import shutil

        package = cls(root, metadata)
        package.weights.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(weights, package.weights)
        package.exports.mkdir(parents=True, exist_ok=True)
        return package

    def save(self) -> None:
        """Write the metadata with the checksums of every weights and exports file as they are now."""
        sums = {**sha256_tree(self.weights.parent), **sha256_tree(self.exports)}
        self.metadata = self.metadata.model_copy(update={"sha256": sums})
        self.metadata_path.write_text(self.metadata.model_dump_json(indent=2), encoding="utf-8")

    def verify(self) -> None:
        """Every listed artifact is present and matches its sha256."""
        if not self.metadata.sha256:
            raise ModelLoadError(f"{METADATA} lists no checksums; re-register the model")
        for relative, digest in self.metadata.sha256.items():
            path = self.artifacts / relative
            if not path.is_file():
                raise ModelLoadError(f"artifact {relative} is missing from the model version")
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                raise ModelLoadError(f"artifact {relative} does not match its sha256 (corrupt download or tampering)")

    def engine_files(self) -> dict[str, Path]:
        """The engines this version can run, with the file each needs."""
        found = {}
        xml = next((self.artifacts / OPENVINO_DIR).glob("*.xml"), None)
        if xml is not None:
            found["openvino"] = xml
        if (self.artifacts / ONNX).is_file():
            found["onnx"] = self.artifacts / ONNX
        if self.weights.is_file():
            found["pytorch"] = self.weights
        int8 = next((self.artifacts / OPENVINO_INT8_DIR).glob("*.xml"), None)
        if int8 is not None:
            found["openvino_int8"] = int8
        return found

    def engine(self, preference: str = "auto", threads: int = 2, openvino_precision: str = "package") -> Engine:
        """The inference engine serving would run for this version.

        `openvino_precision`: f32, bf16, int8, or `package` — the one chosen at registration.
        """
        from fingercount.inference import build_engine

        files = self.engine_files()
        precision = self.metadata.precision if openvino_precision == "package" else openvino_precision
        int8 = precision == "int8" and "openvino_int8" in files
        if int8:
            files["openvino"] = files["openvino_int8"]
        hint = "f32" if precision == "int8" else precision  # INT8 layers run as INT8; the rest at f32
        engine = build_engine(files, self.metadata.imgsz, self.metadata.class_names, preference, threads, hint)
        if int8 and engine.name == "openvino":
            engine.precision = "int8"
        return engine

    def served_engine(self, preference: str = "auto", threads: int = 2, openvino_precision: str = "package") -> Engine:
        """The engine with the version's count head: what serving, the pyfunc and evaluation count with."""
        head = self.metadata.count_head
        if head in POSE_HEADS and not self.metadata.keypoints:
            raise ModelLoadError(
                f"this version counts with the {head} head, but its model predicts no keypoints "
                "(trained without model.landmarks): register it with another count head"
            )
        engine = self.engine(preference, threads, openvino_precision)
        if head == "classes":
            return engine
        from fingercount.registry.count_head import HeadEngine, KeypointHead

        if head in POSE_HEADS:
            return KeypointHead(engine, self.metadata.class_names)

        return HeadEngine(engine, self.metadata.count_head, self.metadata.count_sure, self.metadata.class_names)
