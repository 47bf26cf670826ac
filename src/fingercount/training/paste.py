"""Hands cut out and pasted (`augmentation.paste`): a hand apart from its person and its room.

The teacher finds each hand of the real training photos and its 21 landmarks; the hand is cut out
along them (the palm's polygon and every finger's bones drawn a finger wide, the fingertips
rounded) with a feathered edge. Each composite pastes one or more of these
hands onto a training photo of *another* source, at a drawn size (small hands in large scenes),
mirrored or not, its hue, saturation and brightness shifted (skin tones, light), where it covers no
hand already there. Its label is the class of the photo's own box that the hand matches (the
source's label, not the teacher's count), its box the pasted outline's. The photo's own boxes stay.

Only the training split is added to, never val or test; the composites are drawn from
`dataset.seed`, so a recipe with paste is as reproducible as one without. A hand the teacher does
not find, or finds without a matching box, is not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from fingercount.config import PasteConfig
from fingercount.errors import ConfigError
from fingercount.files import image_files
from fingercount.labeling.teacher import HandTeacher
from fingercount.labeling.verify import iou
from fingercount.training.source_weights import source_of

PASTED = "pasted"  # the composites' source name (their file names start `pasted__`)
MATCH_IOU = 0.5  # a teacher hand is the labelled hand it overlaps this much
FEATHER = 0.08  # the outline's soft edge, a fraction of the palm's length
FINGER_WIDTH = 0.3  # a finger's width, a fraction of the palm's length (wrist to the middle knuckle)
# MediaPipe's 21 landmarks: the palm's outline, each finger's bones, the fingertips.
PALM = (0, 1, 2, 5, 9, 13, 17)
BONES = ((0, 1), (1, 2), (2, 3), (3, 4), (5, 6), (6, 7), (7, 8), (9, 10), (10, 11), (11, 12),
         (13, 14), (14, 15), (15, 16), (17, 18), (18, 19), (19, 20))  # fmt: skip
TIPS = (4, 8, 12, 16, 20)
Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels


@dataclass(frozen=True)
class Cutout:
    """One hand cut out of a training photo: its pixels, how opaque each is, its class."""

    source: str
    patch: np.ndarray  # BGR, the outline's bounding box
    alpha: np.ndarray  # float32 in [0, 1], the same size
    class_id: int


@dataclass(frozen=True)
class Background:
    source: str
    image: Path
    labels: list[tuple[int, Box]]  # class, box as fractions of the photo's width and height

    def boxes(self, frame: np.ndarray) -> list[tuple[int, Box]]:
        """The labels in pixels of `frame` (this photo, read)."""
        height, width = frame.shape[:2]
        return [(c, (x1 * width, y1 * height, x2 * width, y2 * height)) for c, (x1, y1, x2, y2) in self.labels]


def pasted_data_yaml(
    data_yaml: Path, prepared: Path, paste: PasteConfig, seed: int, sources: list[str], out: Path, progress: bool = True
) -> tuple[Path, int]:
    """A data.yaml in `out` whose training list is `data_yaml`'s plus `paste.images` composites made
    from the training photos of `sources` in the `prepared` dataset; (its path, composites written)."""
    spec = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    listed = _training_list(spec, prepared)
    real = [image for image in image_files(prepared / "images" / "train") if source_of(image) in sources]
    backgrounds = [Background(source_of(i) or "", i, read_labels(_label_path(prepared, i))) for i in real]
    if len({b.source for b in backgrounds}) < 2:
        raise ConfigError(
            f"augmentation.paste pastes a hand onto another source's photo: the training split has "
            f"photos of {sorted({b.source for b in backgrounds}) or 'no real source'}, it needs two"
        )
    cutouts = cut_out(backgrounds, progress)
    if not cutouts:
        raise ConfigError("augmentation.paste: the teacher found no labelled hand to cut out in the training photos")
    folder = out / "pasted"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    written = []
    for index in tqdm(range(paste.images), desc="pasting hands", unit="img", disable=not progress):
        made = composite(backgrounds, cutouts, paste, np.random.default_rng([seed, index]))
        if made is None:
            continue
        frame, labels = made
        name = f"{PASTED}__{index:05d}"
        cv2.imwrite(str(folder / "images" / f"{name}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        height, width = frame.shape[:2]
        (folder / "labels" / f"{name}.txt").write_text("".join(_yolo_line(c, b, width, height) for c, b in labels))
        written.append((folder / "images" / f"{name}.jpg").resolve())
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.txt").write_text("".join(f"{image}\n" for image in [*listed, *written]), encoding="utf-8")
    spec["train"] = str((out / "train.txt").resolve())
    for split in ("val", "test"):
        spec[split] = str(_resolve(spec[split], prepared))
    (out / "data.yaml").write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out / "data.yaml", len(written)


def _resolve(entry: str, prepared: Path) -> Path:
    path = Path(entry)
    return path if path.is_absolute() else (prepared / path).resolve()


def _training_list(spec: dict[str, object], prepared: Path) -> list[Path]:
    """The images the training reads now: a list file (weighted sources) or the prepared folder."""
    train = _resolve(str(spec["train"]), prepared)
    if train.suffix == ".txt":
        return [Path(line) for line in train.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [image.resolve() for image in image_files(train)]


def _label_path(prepared: Path, image: Path) -> Path:
    return prepared / "labels" / "train" / f"{image.stem}.txt"


def read_labels(path: Path) -> list[tuple[int, Box]]:
    """A YOLO label file as (class, x1, y1, x2, y2 as fractions of the photo)."""
    if not path.is_file():
        return []
    found = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 5:
            cx, cy, w, h = map(float, parts[1:])
            found.append((int(parts[0]), (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)))
    return found


def _yolo_line(class_id: int, box: Box, width: int, height: int) -> str:
    x1, y1, x2, y2 = box
    centre = f"{(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f}"
    return f"{class_id} {centre} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}\n"


def cut_out(backgrounds: list[Background], progress: bool = True) -> list[Cutout]:
    """Every labelled hand the teacher finds in these photos, cut out along its landmarks."""
    cutouts = []
    with HandTeacher() as teacher:
        for photo in tqdm(backgrounds, desc="cutting out hands", unit="img", disable=not progress):
            frame = cv2.imread(str(photo.image), cv2.IMREAD_COLOR)
            if frame is None or not photo.labels:
                continue
            labels = photo.boxes(frame)
            for hand, points in teacher.label_with_points(frame):
                matched = max(labels, key=lambda label: iou(label[1], hand.box))
                if iou(matched[1], hand.box) < MATCH_IOU:
                    continue
                cut = outline(frame, points)
                if cut is not None:
                    cutouts.append(Cutout(photo.source, cut[0], cut[1], matched[0]))
    return cutouts


def outline(frame: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The hand's pixels inside its landmark outline (the palm's polygon and each finger's bones,
    drawn as wide as a finger), feathered and cropped to it; None if the hand is tiny."""
    palm = float(np.linalg.norm(points[0] - points[9]))  # wrist to the middle finger's knuckle
    if palm < 8:
        return None
    width = max(round(FINGER_WIDTH * palm), 3)
    mask: np.ndarray = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillPoly(mask, [points[list(PALM)].astype(np.int32)], 255)
    for start, end in BONES:
        cv2.line(mask, tuple(map(int, points[start])), tuple(map(int, points[end])), 255, width, cv2.LINE_AA)
    for tip in TIPS:  # the fingertip and nail reach beyond the last landmark
        cv2.circle(mask, tuple(map(int, points[tip])), width // 2 + 1, 255, -1, cv2.LINE_AA)
    soft = max(round(FEATHER * palm) | 1, 3)
    alpha = cv2.GaussianBlur(mask, (soft, soft), 0).astype(np.float32) / 255
    ys, xs = np.nonzero(alpha > 0.02)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return frame[top:bottom, left:right].copy(), alpha[top:bottom, left:right].copy()


def composite(
    backgrounds: list[Background], cutouts: list[Cutout], paste: PasteConfig, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[int, Box]]] | None:
    """One training photo with hands of other sources pasted on; None when none found room."""
    background = backgrounds[int(rng.integers(len(backgrounds)))]
    frame = cv2.imread(str(background.image), cv2.IMREAD_COLOR)
    if frame is None:
        return None
    donors = [cut for cut in cutouts if cut.source != background.source] or cutouts
    labels = background.boxes(frame)
    pasted = 0
    for _ in range(int(rng.integers(paste.hands[0], paste.hands[1] + 1))):
        cut = donors[int(rng.integers(len(donors)))]
        placed = _place(frame, cut, paste, rng, [box for _, box in labels])
        if placed is not None:
            labels.append((cut.class_id, placed))
            pasted += 1
    return (frame, labels) if pasted else None


def _place(
    frame: np.ndarray, cut: Cutout, paste: PasteConfig, rng: np.random.Generator, taken: list[Box]
) -> Box | None:
    """Paste `cut` (drawn size, mirror and colour) where it overlaps no box in `taken`; its box, or None."""
    height, width = frame.shape[:2]
    scale = rng.uniform(*paste.size) * height / cut.patch.shape[0]
    scale = min(scale, 0.9 * width / cut.patch.shape[1], 0.9 * height / cut.patch.shape[0])
    size = (max(int(cut.patch.shape[1] * scale), 1), max(int(cut.patch.shape[0] * scale), 1))
    patch = cv2.resize(cut.patch, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    alpha = cv2.resize(cut.alpha, size, interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:  # the other hand: a mirror changes no count
        patch, alpha = patch[:, ::-1], alpha[:, ::-1]
    patch = _recolour(patch, paste.hue, rng)
    ys, xs = np.nonzero(alpha > 0.5)
    if len(xs) == 0:
        return None
    inner = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    for _ in range(20):
        left = int(rng.integers(0, width - size[0] + 1))
        top = int(rng.integers(0, height - size[1] + 1))
        box = (inner[0] + left, inner[1] + top, inner[2] + left, inner[3] + top)
        if all(iou(box, other) == 0.0 for other in taken):
            area = (slice(top, top + size[1]), slice(left, left + size[0]))
            weight = alpha[..., None]
            frame[area] = (weight * patch + (1 - weight) * frame[area].astype(np.float32)).astype(np.uint8)
            return box
    return None


def _recolour(patch: np.ndarray, hue: float, rng: np.random.Generator) -> np.ndarray:
    """Hue turned by up to ±`hue` of the circle, saturation and brightness scaled 0.7-1.3."""
    hsv = cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-hue, hue) * 180) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.7, 1.3), 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.7, 1.3), 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
