"""Experiment configuration: YAML files loaded into strict pydantic models.

Every problem becomes one `ConfigError` line that names the file and the key, e.g.
``configs/training_config.yaml: training.epochs: must be >= 1 (got -3)``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fingercount.errors import ConfigError

# Architecture name -> model file stem; from scratch uses `<stem>.yaml`, pretrained `<stem>.pt`.
# A new family (e.g. YOLO26) is one more line here.
ARCHITECTURES: dict[str, str] = {
    "yolo11n": "yolo11n",
    "yolo11s": "yolo11s",
    "yolo11m": "yolo11m",
    "yolo11l": "yolo11l",
    "yolo11x": "yolo11x",
}


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- data config


class SyntheticSourceConfig(StrictModel):
    images: int = Field(500, ge=1, description="number of images to generate")
    seed: int = 0
    img_size: int = Field(320, ge=64, le=2048)
    max_hands: int = Field(3, ge=1, le=8)
    include_fist: bool = Field(False, description="also draw fists (class '0')")
    hand_scale: tuple[float, float] = Field((0.045, 0.085), description="palm radius range, fraction of the side")

    @field_validator("hand_scale")
    @classmethod
    def _scale_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0.02 <= low <= high <= 0.15:
            raise ValueError(f"must be [low, high] with 0.02 <= low <= high <= 0.15, got {list(value)}")
        return value


class LocalSourceConfig(StrictModel):
    path: Path = Field(description="YOLO folder (images/ + labels/), Pascal VOC folder (an XML per image) or COCO JSON")
    format: Literal["auto", "yolo", "coco", "voc"] = Field(
        "auto", description="auto: .json is COCO; a folder with XMLs and no labels/ is VOC; else YOLO"
    )
    sequences: bool = Field(False, description="frames named like name_17.jpg are a sequence: kept in one split")


class PicselliaSourceConfig(StrictModel):
    organization: str | None = None
    dataset_name: str = "Photos Floutées"
    version: str = "new_version"
    host: str = "https://app.picsellia.com"
    token_file: Path = Path("picsellia_token")
    download_dir: Path = Path("data/raw/picsellia")


class FoldersSourceConfig(StrictModel):
    """Real hand photos boxed by the hand-landmark teacher (needs the `label` extra)."""

    path: Path = Field(description="count folders (<count>/*.jpg) or any folder of hand photos")
    on_mismatch: Literal["skip", "keep"] = Field(
        "keep", description="count folders: a photo whose teacher count differs, or with several hands"
    )
    sequences: bool = Field(True, description="frames named like name_17.jpg are a sequence: kept in one split")


class SourceConfig(StrictModel):
    type: Literal["synthetic", "local", "picsellia", "folders"] = "synthetic"
    name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]+$", description="names this source's images when several are combined"
    )
    synthetic: SyntheticSourceConfig = SyntheticSourceConfig()
    local: LocalSourceConfig | None = None
    picsellia: PicselliaSourceConfig = PicselliaSourceConfig()
    folders: FoldersSourceConfig | None = None
    class_map: dict[str, Annotated[int, Field(ge=0, le=5)] | Literal["skip"]] = Field(
        default_factory=dict,
        description="class name -> finger count (0-5), or skip: images holding that class are left out "
        "(thumbs_up, ok…); names the built-in mapping understands need no entry (3, three, 3-hand, fist…)",
    )
    verify: Literal["none", "teacher"] = Field(
        "none", description="teacher: each labelled hand is checked by the hand-landmark teacher (`label` extra)"
    )
    on_disagree: Literal["leave_out", "relabel"] = Field(
        "leave_out", description="verify: a hand the teacher counts otherwise leaves its image out, or is relabelled"
    )
    disagree_by: int = Field(
        2, ge=1, le=5, description="verify: fingers the teacher's count must differ by (it is often one off)"
    )
    group: str | None = Field(
        None,
        description="regular expression on the file name whose first group (or match) names a session or "
        "person: no group straddles splits (e.g. '^(.+)_pic' )",
    )

    @field_validator("group")
    @classmethod
    def _group_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _needs_path(self) -> SourceConfig:
        if self.type in ("local", "folders") and getattr(self, self.type) is None:
            raise ValueError(f"source.type is {self.type!r} but source.{self.type}.path is not set")
        return self

    @property
    def label(self) -> str:
        return self.name or self.type


class FaceBlurConfig(StrictModel):
    enabled: bool = False
    threshold: float = Field(0.2, gt=0, lt=1, description="CenterFace detection threshold")
    mode: Literal["blur", "mosaic", "solid"] = "blur"
    mask_scale: float = Field(1.3, ge=1, le=3, description="grow each face box by this factor")
    detect_size: int | None = Field(320, ge=64, description="detect on a copy this long (px); null: full size")


class PreprocessingConfig(StrictModel):
    """Steps applied to every image before it is written to the prepared dataset."""

    face_blur: FaceBlurConfig = FaceBlurConfig()

    def steps(self) -> list[tuple[str, dict[str, Any]]]:
        """Enabled steps in order, as (registry name, settings)."""
        enabled = []
        if self.face_blur.enabled:
            enabled.append(("face_blur", self.face_blur.model_dump(exclude={"enabled"})))
        return enabled


class DataConfig(StrictModel):
    """`configs/config.yaml`: where the dataset comes from and where it is prepared."""

    source: SourceConfig = SourceConfig()
    # More sources prepared together with `source` (e.g. drawn hands + real photos); each needs a
    # distinct name, which prefixes its image names (evaluation can select a source's test images).
    extra_sources: list[SourceConfig] = []
    preprocessing: PreprocessingConfig = PreprocessingConfig()
    output_dir: Path = Path("data/prepared")
    raw_dir: Path = Field(Path("data/raw"), description="where generated/imported data is kept")

    @model_validator(mode="after")
    def _distinct_names(self) -> DataConfig:
        labels = [source.label for source in (self.source, *self.extra_sources)]
        if len(set(labels)) != len(labels):
            raise ValueError(f"sources need distinct names (set `name:`), got {labels}")
        return self


# --------------------------------------------------------------------------- training config


class ModelConfig(StrictModel):
    architecture: str = "yolo11n"
    pretrained: bool = False
    weights: str | None = Field(
        None,
        description="start from: a shipped checkpoint by name (`fingercount models checkpoints`), a local .pt, "
        "or a registered version (models:/NAME@ALIAS, models:/NAME/VERSION)",
    )
    landmarks: bool = Field(
        False,
        description="also learn the teacher's 21 hand landmarks as keypoints (a YOLO11 pose head; training/"
        "landmark_labels.py); a detection checkpoint to start from keeps its boxes and classes. Needs the label extra",
    )

    @property
    def parent_uri(self) -> str | None:
        """The registered version this training fine-tunes, if any."""
        return self.weights if self.weights and self.weights.startswith("models:/") else None

    @field_validator("architecture")
    @classmethod
    def _known_architecture(cls, value: str) -> str:
        if value not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {value!r}; choose one of {', '.join(ARCHITECTURES)}")
        return value


class SplitRatios(StrictModel):
    train: float = Field(0.8, ge=0, le=1)
    val: float = Field(0.1, ge=0, le=1)
    test: float = Field(0.1, ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitRatios:
        total = self.train + self.val + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"train + val + test must sum to 1 (got {total:g})")
        if self.train <= 0:
            raise ValueError("train ratio must be > 0")
        return self

    def as_dict(self) -> dict[str, float]:
        return {"train": self.train, "val": self.val, "test": self.test}


class DatasetConfig(StrictModel):
    config: Path = Field(Path("configs/config.yaml"), description="the data config to prepare from")
    split_ratios: SplitRatios = SplitRatios()
    seed: int = 42
    img_size: int = Field(640, ge=32, le=4096)

    @field_validator("img_size")
    @classmethod
    def _stride_multiple(cls, value: int) -> int:
        if value % 32:
            raise ValueError(f"must be a multiple of 32 (YOLO's stride), got {value}")
        return value


Optimizer = Literal["SGD", "Adam", "AdamW", "NAdam", "RAdam", "RMSProp", "auto"]


class TrainingParams(StrictModel):
    # 0: no training; the starting weights (model.weights) are evaluated and registered as they are.
    epochs: int = Field(100, ge=0)
    batch_size: int = Field(16, ge=1)
    lr0: float = Field(0.01, gt=0)
    lrf: float = Field(0.01, gt=0)
    momentum: float = Field(0.937, ge=0, le=1)
    weight_decay: float = Field(0.0005, ge=0)
    warmup_epochs: float = Field(3.0, ge=0)
    optimizer: Optimizer = "SGD"
    patience: int = Field(50, ge=0)
    workers: int = Field(2, ge=0)
    cos_lr: bool = False
    close_mosaic: int = Field(10, ge=0)
    # true: Ultralytics' fp16 AMP on a GPU (a CPU trains in f32); false: f32; "bf16": bf16 mixed
    # precision, on a CPU too (fast with AMX or AVX512-BF16, at some accuracy: docs/benchmarks.md).
    amp: bool | Literal["bf16"] = True
    cache: bool = False
    fraction: float = Field(1.0, gt=0, le=1)
    threads: int | None = Field(None, ge=1, description="CPU threads for training (null: every core)")
    # How often each source's training images are seen per epoch (training/source_weights.py):
    # {people: 3, epsrc: 1/3}; a source not named keeps 1. Val and test are never weighted.
    source_weights: dict[str, float] = Field(default_factory=dict)

    @field_validator("source_weights", mode="before")
    @classmethod
    def _weights_as_numbers(cls, value: object) -> object:
        """`1/3` as YAML gives it (a string) is a third; every weight must be above 0."""
        if not isinstance(value, dict):
            return value
        weights = {}
        for source, weight in value.items():
            number = weight
            if isinstance(weight, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*/\s*\d+(\.\d+)?\s*", weight):
                top, bottom = (float(part) for part in weight.split("/"))
                number = top / bottom if bottom else math.inf
            if not isinstance(number, int | float) or isinstance(number, bool) or not 0 < number < math.inf:
                raise ValueError(f"{source}: {weight!r} is not a weight above 0 (e.g. 3, 0.5 or 1/3)")
            weights[source] = float(number)
        return weights

    @field_validator("amp", mode="before")
    @classmethod
    def _amp_choice(cls, value: object) -> object:
        if isinstance(value, bool) or value == "bf16":
            return value
        raise ValueError(f"must be true (fp16 AMP on a GPU), false (f32) or bf16, got {value!r}")

    @model_validator(mode="after")
    def _auto_optimizer_sets_its_own_rates(self) -> TrainingParams:
        explicit = self.model_fields_set & {"lr0", "momentum"}
        if self.optimizer == "auto" and explicit:
            raise ValueError(
                "optimizer 'auto' picks lr0 and momentum itself and would ignore the "
                f"{' and '.join(sorted(explicit))} you set; choose an optimizer (e.g. SGD or AdamW)"
            )
        return self


class PasteConfig(StrictModel):
    """Hands cut out along the teacher's landmarks, pasted onto other sources' training photos
    (training/paste.py): a hand apart from its person and room. Needs the `label` extra."""

    images: int = Field(0, ge=0, description="composite photos added to the training split (0: off)")
    hands: tuple[int, int] = Field((1, 2), description="hands pasted per photo: at least, at most")
    size: tuple[float, float] = Field((0.1, 0.45), description="a pasted hand's height, a fraction of the photo's")
    hue: float = Field(0.05, ge=0, le=0.5, description="the hand's hue turned by up to this fraction of the circle")

    @model_validator(mode="after")
    def _ranges(self) -> PasteConfig:
        if not 1 <= self.hands[0] <= self.hands[1]:
            raise ValueError(f"hands: [at least, at most], 1 <= at least <= at most; got {list(self.hands)}")
        if not 0 < self.size[0] <= self.size[1] <= 1:
            raise ValueError(f"size: [smallest, largest], fractions of the photo's height; got {list(self.size)}")
        return self


class AugmentationConfig(StrictModel):
    hsv_h: float = Field(0.015, ge=0, le=1)
    hsv_s: float = Field(0.7, ge=0, le=1)
    hsv_v: float = Field(0.4, ge=0, le=1)
    degrees: float = Field(0.0, ge=0, le=180)
    translate: float = Field(0.1, ge=0, le=1)
    scale: float = Field(0.5, ge=0)
    shear: float = Field(0.0, ge=0, le=180)
    perspective: float = Field(0.0, ge=0, le=0.001)
    flipud: float = Field(0.0, ge=0, le=1)
    fliplr: float = Field(0.5, ge=0, le=1)
    mosaic: float = Field(1.0, ge=0, le=1)
    mixup: float = Field(0.0, ge=0, le=1)
    paste: PasteConfig = PasteConfig()  # ours, done before the training (the rest are Ultralytics')


class MlflowConfig(StrictModel):
    experiment_name: str = Field("yolov11-finger-counting", min_length=1)
    registered_model_name: str = Field("yolov11-finger-counting", min_length=1)
    auto_register: bool = True
    auto_promote_stage: Literal["Staging", "Production", "None"] | None = "Staging"
    # The run metric the promotion gate compares, e.g. eval/<set>/count_accuracy of a named set.
    promotion_metric: str = Field("test/count_accuracy", min_length=1)


class EvalSetConfig(StrictModel):
    """A named evaluation set: a folder of photos, or one split (and source) of the prepared dataset."""

    path: Path | None = Field(None, description="count folders (<count>/*.jpg), a YOLO folder or a data.yaml")
    split: Literal["train", "val", "test"] | None = None
    source: str | None = Field(None, description="with split: only the images of this named source")

    @model_validator(mode="after")
    def _one_kind(self) -> EvalSetConfig:
        if (self.path is None) == (self.split is None):
            raise ValueError("give either path or split")
        if self.source is not None and self.split is None:
            raise ValueError("source selects images of a split: give split too")
        return self


# How a found hand's fingers are counted (registry/count_head.py): the detector's class, or the
# hand-landmark model on its crop, or on the whole photo, in the orders their names say; or the
# finger rule on the model's own keypoints (a pose model, `model.landmarks`).
CountHead = Literal[
    "classes", "landmarks", "arbitrated", "landmarks+photo", "photo+landmarks", "sure+photo", "keypoints"
]
COUNT_HEADS: tuple[str, ...] = get_args(CountHead)
POSE_HEADS = ("keypoints",)  # they need a model that predicts keypoints; no landmark model at serving
WHOLE_PHOTO_HEADS = (
    "landmarks+photo",
    "photo+landmarks",
    "sure+photo",
)  # they run the landmark model on the whole photo
SURE_HEADS = ("arbitrated", "sure+photo")  # they keep the class of a box at `count_sure` or above


class EvaluationConfig(StrictModel):
    """Count-only evaluation on named sets at registration: logged as eval/<set>/…, kept in the version."""

    sets: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")], EvalSetConfig] = {}
    teacher: bool = Field(False, description="also measure the hand-landmark teacher on each set (label extra)")
    count_head: CountHead = Field(
        "classes",
        description="how the version counts a found hand; any but classes and keypoints needs the label extra",
    )
    count_sure: float = Field(
        0.7,
        gt=0,
        le=1.01,
        description="arbitrated and sure+photo: the detector's class at this confidence and above, else landmarks",
    )


class ExportConfig(StrictModel):
    """Serving precisions made at packaging; each is measured on the validation split, and serving
    runs the fastest one whose exact count accuracy stays within `tolerance` points of f32."""

    int8: bool = Field(True, description="also an OpenVINO INT8 model (NNCF post-training quantization)")
    calibration_images: int = Field(300, ge=1, description="training images that calibrate INT8")
    tolerance: float = Field(0.5, ge=0, le=100, description="count-accuracy points a precision may lose vs f32")


class TrainingConfig(StrictModel):
    """`configs/training_config.yaml`: one experiment."""

    model: ModelConfig = ModelConfig()
    dataset: DatasetConfig = DatasetConfig()
    training: TrainingParams = TrainingParams()
    augmentation: AugmentationConfig = AugmentationConfig()
    mlflow: MlflowConfig = MlflowConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    export: ExportConfig = ExportConfig()
    device: Annotated[str, Field(pattern=r"^(auto|cpu|mps|\d+(,\d+)*)$")] = "auto"

    @field_validator("device", mode="before")
    @classmethod
    def _device_as_text(cls, value: Any) -> Any:
        if isinstance(value, list):  # `device: [0, 1]`: several GPUs, Ultralytics' DDP
            return ",".join(str(v) for v in value)
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _weights_for_no_training(self) -> TrainingConfig:
        if self.training.epochs == 0 and self.model.weights is None:
            raise ValueError("training.epochs: 0 registers weights as they are; set model.weights to them")
        return self

    @model_validator(mode="after")
    def _landmarks_without_paste(self) -> TrainingConfig:
        if self.model.landmarks and self.augmentation.paste.images:
            raise ValueError("model.landmarks and augmentation.paste: pasted hands have no landmarks yet; use one")
        return self

    @model_validator(mode="after")
    def _keypoints_need_landmarks(self) -> TrainingConfig:
        if self.evaluation.count_head in POSE_HEADS and not self.model.landmarks:
            raise ValueError(
                f"evaluation.count_head {self.evaluation.count_head} counts the model's own keypoints: "
                "set model.landmarks: true, or choose another head"
            )
        return self


def without_sources(config: TrainingConfig, data: DataConfig, dropped: set[str]) -> tuple[TrainingConfig, DataConfig]:
    """The configs with the named extra sources left out, and with them what needs them: their
    evaluation sets, their source weights, a promotion metric on a dropped set."""
    if not dropped:
        return config, data
    kept = [source for source in data.extra_sources if source.label not in dropped]
    sets = {name: spec for name, spec in config.evaluation.sets.items() if spec.source not in dropped}
    metric = config.mlflow.promotion_metric
    if metric.startswith("eval/") and metric.split("/")[1] not in sets:
        metric = "test/count_accuracy"
    weights = {source: w for source, w in config.training.source_weights.items() if source not in dropped}
    config = config.model_copy(
        update={
            "evaluation": config.evaluation.model_copy(update={"sets": sets}),
            "training": config.training.model_copy(update={"source_weights": weights}),
            "mlflow": config.mlflow.model_copy(update={"promotion_metric": metric}),
        }
    )
    return config, data.model_copy(update={"extra_sources": kept})


def set_key(config: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """`config` with `dotted` (e.g. training.lr0) set; refuses keys the training config does not have."""
    *path, leaf = dotted.split(".")
    node = config
    for part in path:
        if not isinstance(node.get(part), dict):
            raise ConfigError(f"{dotted} is not a key of the training config")
        node[part] = dict(node[part])
        node = node[part]
    if leaf not in node:
        raise ConfigError(f"{dotted} is not a key of the training config")
    node[leaf] = value
    return config


# --------------------------------------------------------------------------- loading

ModelT = TypeVar("ModelT", bound=BaseModel)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; every failure is one ConfigError line naming the file."""
    if not path.exists():
        # A config names the others relative to the working folder; from another folder they are not found.
        where = "" if path.is_absolute() else f" (a relative path is read from the working folder, {Path.cwd()})"
        raise ConfigError(f"{path}: file not found{where}")
    if not path.is_file():
        raise ConfigError(f"{path}: not a file")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(f"{path}: {where}invalid YAML: {exc.problem or exc.context}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def describe_validation_error(error: ValidationError) -> str:
    """The first problem as 'key.path: message', with a count of the others."""
    problems = error.errors()
    first = problems[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see the example configs)"
    elif first["type"] == "missing":
        message = "required key is missing"
    else:
        message = first["msg"].removeprefix("Value error, ")
        if "input" in first and not isinstance(first["input"], dict | list):
            message += f" (got {first['input']!r})"
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return f"{key}: {message}{more}"


def load_config(path: Path, model: type[ModelT]) -> ModelT:
    """Load and validate one config file into `model`."""
    data = read_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from None


def load_training_config(path: Path) -> TrainingConfig:
    return load_config(path, TrainingConfig)


def load_data_config(path: Path) -> DataConfig:
    return load_config(path, DataConfig)
