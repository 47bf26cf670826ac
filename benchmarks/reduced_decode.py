"""Would decoding a webcam frame at reduced scale move the counts? (issue 27, before changing serving)

    python benchmarks/reduced_decode.py [--data data/real-hands-prepared/data.yaml] [--scale 2]

Each held-out real photo of the demo's prepared data (test split: EPSRC, webcam-rooms and
many-people, the sources `make demo` trains on) is sent as a webcam would: resized to 640x480 and
JPEG-encoded at quality 90. It is then decoded in full and at 1/`scale` (libjpeg's DCT scaling,
`cv2.IMREAD_REDUCED_COLOR_<scale>`), and both frames go through the shipped checkpoint's engine
(OpenVINO, 160 px, its counting threshold). Prints the decode time of each, the exact count
accuracy per source for each, and on how many photos the two counts differ. Run `make demo` first
(it prepares the data).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import register_checkpoint

REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/real-hands-prepared/data.yaml"))
    parser.add_argument("--scale", type=int, choices=sorted(REDUCED), default=2)
    args = parser.parse_args()

    from fingercount.inference import image_count
    from fingercount.registry import Registry
    from fingercount.settings import quiet_third_parties
    from fingercount.training.count_eval import split_truth

    quiet_third_parties()
    data = args.data.resolve()
    if not data.is_file():
        raise SystemExit(f"{data}: no prepared data; run `make demo` (or `fingercount data prepare`) first")
    truth = split_truth(data, "test")
    work = Path(tempfile.mkdtemp(prefix="fc-reduced-decode-"))
    uri = register_checkpoint(work)
    package = Registry(uri, work / "cache").check().fetch("yolov11-finger-counting", "1")
    engine = package.engine("openvino", 2, package.metadata.precision or "f32")
    conf = package.metadata.count_conf

    rows: dict[str, dict[str, list[bool]]] = {}
    differ = 0
    seconds: dict[str, list[float]] = {"full": [], "reduced": []}
    for photo, count in truth.items():
        image = cv2.imread(str(photo))
        if image is None:
            continue
        ok, encoded = cv2.imencode(".jpg", cv2.resize(image, (640, 480)), [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        buffer = np.frombuffer(encoded.tobytes(), np.uint8)
        counts = {}
        for arm, flag in (("full", cv2.IMREAD_COLOR), ("reduced", REDUCED[args.scale])):
            started = time.perf_counter()
            frame = cv2.imdecode(buffer, flag)
            seconds[arm].append(time.perf_counter() - started)
            detections = engine.predict(frame, conf)
            counts[arm] = image_count(detections) if detections else 0
        source = photo.name.split("__", 1)[0]
        for arm, predicted in counts.items():
            rows.setdefault(source, {}).setdefault(arm, []).append(predicted == count)
        differ += counts["full"] != counts["reduced"]

    total = sum(len(arms["full"]) for arms in rows.values())
    print(f"reduced decode: {total} held-out photos sent at 640x480, decoded in full vs at 1/{args.scale}")
    full_ms, reduced_ms = (1000 * statistics.median(seconds[arm]) for arm in ("full", "reduced"))
    saved = full_ms - reduced_ms
    print(f"decode p50: full {full_ms:.2f} ms, 1/{args.scale} {reduced_ms:.2f} ms ({saved:.2f} ms saved)")
    print(f"{'source':<12} {'photos':>7} {'full':>8} {'reduced':>8}")
    for source, arms in sorted(rows.items()):
        print(f"{source:<12} {len(arms['full']):>7} {np.mean(arms['full']):>8.1%} {np.mean(arms['reduced']):>8.1%}")
    print(f"counts that differ between the two decodes: {differ} of {total}")


if __name__ == "__main__":
    main()
