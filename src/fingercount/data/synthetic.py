"""Procedural hand images with exact YOLO labels; the class is the number of raised fingers.

Honesty rules, because a detector will find any shortcut we leave in:
- skin tone, hand size, position, rotation, handedness and background are drawn independently
  of the finger count, so only the fingers themselves tell the class;
- folded fingers are still drawn (as knuckle stubs), so a "2" is not just a smaller "5";
- boxes come from each hand's own rendered mask, so they are tight by construction.
Every image depends only on (seed, index): generation order and parallelism don't matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from fingercount.config import SyntheticSourceConfig

FINGERS = ("thumb", "index", "middle", "ring", "pinky")

# Per finger, in palm-radius units and degrees from the hand's "up" direction:
# (angle of the base on the palm outline, base distance, direction, length when raised)
_FINGER_GEOMETRY = {
    "thumb": (-78.0, 0.80, -58.0, 1.05),
    "index": (-34.0, 0.92, -26.0, 1.30),
    "middle": (-11.0, 0.95, -8.0, 1.42),
    "ring": (12.0, 0.95, 10.0, 1.32),
    "pinky": (35.0, 0.90, 28.0, 1.05),
}
FINGER_WIDTH = 0.27  # of the palm radius
FOLDED_LENGTH = 0.14  # short: a folded finger must not read as a short raised one at 160 px
# A raised fingertip reaches past this radius (palm units) and anything folded stays inside it;
# the tests count fingers by crossing this circle.
COUNTING_RADIUS = 1.6

# Skin tones in BGR, light to dark; each hand picks one and jitters it.
_SKIN_TONES = np.array(
    [[189, 203, 241], [160, 185, 228], [130, 160, 210], [105, 135, 190], [80, 105, 160], [55, 75, 120], [40, 55, 90]],
    dtype=np.float32,
)


@dataclass(frozen=True)
class HandSpec:
    fingers_up: tuple[bool, ...]  # in FINGERS order
    center: tuple[float, float]
    palm_radius: float
    angle_deg: float  # rotation of the hand's "up" from the image's up, clockwise
    mirrored: bool  # left hand
    spread_deg: tuple[float, ...]  # per-finger jitter of the direction
    skin_bgr: tuple[float, float, float]

    @property
    def count(self) -> int:
        return sum(self.fingers_up)


@dataclass
class RenderedHand:
    spec: HandSpec
    mask: np.ndarray  # uint8, full image size, 255 where this hand is drawn
    bbox: tuple[int, int, int, int]  # x1, y1, x2, y2 (exclusive), in pixels


@dataclass
class SyntheticImage:
    image: np.ndarray  # BGR uint8
    hands: list[RenderedHand] = field(default_factory=list)

    def yolo_lines(self, class_offset: int) -> list[str]:
        height, width = self.image.shape[:2]
        lines = []
        for hand in self.hands:
            x1, y1, x2, y2 = hand.bbox
            cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
            w, h = (x2 - x1) / width, (y2 - y1) / height
            lines.append(f"{hand.spec.count - class_offset} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
        return lines


# --------------------------------------------------------------------------- geometry


def _finger_segments(spec: HandSpec) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """(base, tip, raised) per finger in image coordinates."""
    segments = []
    for index, name in enumerate(FINGERS):
        base_angle, base_dist, direction, length = _FINGER_GEOMETRY[name]
        direction += spec.spread_deg[index]
        raised = spec.fingers_up[index]
        base = _to_image(spec, base_angle, base_dist * spec.palm_radius)
        reach = (length if raised else FOLDED_LENGTH) * spec.palm_radius
        tip = base + _unit(spec, direction) * reach
        segments.append((base, tip, raised))
    return segments


def _hand_angle(spec: HandSpec, local_deg: float) -> float:
    sign = -1.0 if spec.mirrored else 1.0
    return math.radians(spec.angle_deg + sign * local_deg)


def _unit(spec: HandSpec, local_deg: float) -> np.ndarray:
    theta = _hand_angle(spec, local_deg)
    return np.array([math.sin(theta), -math.cos(theta)])  # 0 deg = up in image


def _to_image(spec: HandSpec, local_deg: float, distance: float) -> np.ndarray:
    return np.array(spec.center) + _unit(spec, local_deg) * distance


def approx_extent(spec: HandSpec) -> tuple[float, float, float, float]:
    """A generous box around the hand, for placing hands without overlap."""
    reach = (1.45 + FINGER_WIDTH) * spec.palm_radius + 0.95 * spec.palm_radius
    cx, cy = spec.center
    return cx - reach, cy - reach, cx + reach, cy + reach


# --------------------------------------------------------------------------- drawing


def _points(values: np.ndarray) -> tuple[int, int]:
    return int(round(values[0])), int(round(values[1]))  # noqa: RUF046  (numpy scalars: int() is explicit)


def draw_hand(canvas: np.ndarray, spec: HandSpec, colour: tuple[float, ...], shade: float = 0.72) -> None:
    """Draw one hand; `canvas` may be a BGR image or a single-channel mask."""
    radius = spec.palm_radius
    dark = tuple(c * shade for c in colour)
    finger_w = max(2, int(round(FINGER_WIDTH * radius)))  # noqa: RUF046  (a numpy scalar)
    inner_w = max(1, finger_w - 2)
    # Wrist: a short stub below the palm, kept inside the counting circle.
    wrist_a = _to_image(spec, 180.0, 0.2 * radius)
    wrist_b = _to_image(spec, 180.0, 0.85 * radius)
    wrist_w = int(radius * 1.0)
    cv2.line(canvas, _points(wrist_a), _points(wrist_b), dark, wrist_w, cv2.LINE_AA)
    cv2.line(canvas, _points(wrist_a), _points(wrist_b), colour, max(1, wrist_w - 2), cv2.LINE_AA)
    segments = _finger_segments(spec)
    for base, tip, _ in segments:  # outlines first so touching fingers stay distinguishable
        cv2.line(canvas, _points(base), _points(tip), dark, finger_w, cv2.LINE_AA)
    axes = (int(radius * 0.92), int(radius))
    angle = math.degrees(_hand_angle(spec, 0.0))
    cv2.ellipse(canvas, _points(np.array(spec.center)), axes, angle, 0, 360, dark, -1, cv2.LINE_AA)
    inner_axes = (max(1, axes[0] - 2), max(1, axes[1] - 2))
    cv2.ellipse(canvas, _points(np.array(spec.center)), inner_axes, angle, 0, 360, colour, -1, cv2.LINE_AA)
    for base, tip, raised in segments:
        start = base + (tip - base) * (0.35 if raised else 0.0)
        cv2.line(canvas, _points(start), _points(tip), colour, inner_w, cv2.LINE_AA)
        if not raised:  # a knuckle crease makes a folded finger read as folded
            cv2.circle(canvas, _points(tip), max(1, inner_w // 3), dark, -1, cv2.LINE_AA)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    kind = rng.integers(0, 3)
    image: np.ndarray
    if kind == 0:  # smooth two-colour gradient
        a, b = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
        ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
        image = np.broadcast_to(a * (1 - ramp) + b * ramp, (size, size, 3))
        if rng.random() < 0.5:
            image = image.transpose(1, 0, 2)
    elif kind == 1:  # blotchy texture
        cells = int(rng.integers(3, 12))
        small = rng.uniform(0, 255, (cells, cells, 3)).astype(np.float32)
        image = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    else:  # stripes / tiles, like floors and fabrics
        period = int(rng.integers(8, 48))
        a, b = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
        idx = np.arange(size)
        stripes = ((idx // period) % 2).astype(np.float32)
        if rng.random() < 0.5:
            pattern = stripes[:, None] * np.ones(size, dtype=np.float32)[None, :]
        else:
            pattern = ((stripes[:, None] + stripes[None, :]) % 2).astype(np.float32)
        image = a * (1 - pattern[..., None]) + b * pattern[..., None]
    canvas = np.ascontiguousarray(image.clip(0, 255).astype(np.uint8))
    for _ in range(int(rng.integers(0, 7))):  # clutter: objects that are not hands
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        x, y = (int(v) for v in rng.integers(0, size, 2))
        extent = int(rng.integers(size // 20, size // 5))
        shape = rng.integers(0, 3)
        if shape == 0:
            cv2.rectangle(canvas, (x, y), (x + extent, y + int(extent * rng.uniform(0.3, 1.5))), colour, -1)
        elif shape == 1:
            cv2.circle(canvas, (x, y), extent // 2, colour, -1, cv2.LINE_AA)
        else:
            end = (x + int(rng.integers(-extent, extent)), y + int(rng.integers(-extent, extent)))
            cv2.line(canvas, (x, y), end, colour, int(rng.integers(1, 4)), cv2.LINE_AA)
    return canvas


DEFAULT_HAND_SCALE = SyntheticSourceConfig.model_fields["hand_scale"].default  # palm radius / image side


def _random_hand(rng: np.random.Generator, size: int, count: int, scale: tuple[float, float]) -> HandSpec:
    up = np.zeros(len(FINGERS), dtype=bool)
    up[rng.choice(len(FINGERS), size=count, replace=False)] = True
    radius = float(rng.uniform(*scale) * size)
    margin = 2.6 * radius
    tone = _SKIN_TONES[rng.integers(0, len(_SKIN_TONES))] * rng.uniform(0.9, 1.1, 3)
    return HandSpec(
        fingers_up=tuple(bool(v) for v in up),
        center=(float(rng.uniform(margin, size - margin)), float(rng.uniform(margin, size - margin))),
        palm_radius=radius,
        angle_deg=float(rng.uniform(-70, 70)),
        mirrored=bool(rng.random() < 0.5),
        spread_deg=tuple(float(v) for v in rng.uniform(-6, 6, len(FINGERS))),
        skin_bgr=tuple(float(c) for c in np.clip(tone, 0, 255)),  # type: ignore[arg-type]
    )


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def render(
    seed: int,
    index: int,
    size: int = 320,
    max_hands: int = 3,
    include_fist: bool = False,
    hand_scale: tuple[float, float] = DEFAULT_HAND_SCALE,
) -> SyntheticImage:
    """Image number `index` of the dataset for `seed`."""
    rng = np.random.default_rng([seed, index])
    image = _background(rng, size)
    lowest = 0 if include_fist else 1
    placed: list[HandSpec] = []
    for _ in range(int(rng.integers(1, max_hands + 1))):
        count = int(rng.integers(lowest, 6))
        for _attempt in range(20):
            spec = _random_hand(rng, size, count, hand_scale)
            extent = approx_extent(spec)
            if all(not _overlaps(extent, approx_extent(other)) for other in placed):
                placed.append(spec)
                break
    hands = []
    for spec in placed:
        mask = np.zeros((size, size), dtype=np.uint8)
        draw_hand(mask, spec, (255.0,), shade=1.0)
        draw_hand(image, spec, spec.skin_bgr)
        x, y, w, h = cv2.boundingRect(mask)
        hands.append(RenderedHand(spec=spec, mask=mask, bbox=(x, y, x + w, y + h)))
    return SyntheticImage(image=_photometric(rng, image), hands=hands)


def _photometric(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Lighting gradient, contrast, blur and sensor noise, as a camera would add."""
    size = image.shape[0]
    contrast = rng.uniform(0.8, 1.2)
    gain = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(1.0, 1.3), size, dtype=np.float32) * contrast
    offset = np.float32(128.0 * (1 - contrast) + rng.uniform(-20, 20))
    out: np.ndarray = image.astype(np.float32)
    out *= gain[None, :, None] if rng.random() < 0.5 else gain[:, None, None]
    out += offset
    sigma = rng.uniform(0.0, 1.2)
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    noise_level = rng.uniform(0.0, 8.0)
    if noise_level > 1.0:
        noise = rng.standard_normal(out.shape, dtype=np.float32)
        noise *= noise_level
        out += noise
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


def class_names(include_fist: bool) -> list[str]:
    return [str(n) for n in range(0 if include_fist else 1, 6)]
