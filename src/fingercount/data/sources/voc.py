"""Pascal VOC import: images with one XML per image (LabelImg, CVAT and Roboflow write it).

Both layouts: XMLs beside the images (`images/NAME.jpg` + `images/NAME.xml`, or flat), and VOC's
own (`JPEGImages/` + `Annotations/`). A file that cannot be used is kept as a sample with its
`problem` (listed in report.json with the reason), never dropped silently.
"""

from __future__ import annotations

from pathlib import Path

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException
from PIL import Image

from fingercount.files import IMAGE_SUFFIXES, image_files
from fingercount.labels import Box, RawDataset, RawSample


def voc_folders(root: Path) -> tuple[Path, Path] | None:
    """(images folder, annotations folder) when `root` holds Pascal VOC XMLs; None otherwise."""
    for images, xmls in (
        (root / "JPEGImages", root / "Annotations"),
        (root / "images", root / "images"),
        (root, root),
    ):
        if images.is_dir() and xmls.is_dir() and any(xmls.glob("*.xml")):
            return images, xmls
    return None


def read_voc_folder(root: Path) -> RawDataset:
    found = voc_folders(root)
    if found is None:
        from fingercount.errors import DatasetError

        raise DatasetError(f"{root}: no Pascal VOC XML files (expected NAME.xml beside NAME.jpg, or Annotations/)")
    images_dir, annotations_dir = found
    parsed = [(xml, *_parse(xml, images_dir)) for xml in sorted(annotations_dir.glob("*.xml"))]
    names = sorted({name for _, _, objects, _ in parsed for name, _ in objects})  # ids by name, not file order
    samples: list[RawSample] = []
    for xml, image, objects, problem in parsed:
        if image is None:
            samples.append(RawSample(xml, xml.name, None, problem, problem_reason="xml_without_image"))
        else:
            boxes = None if problem else tuple(Box(names.index(name), *box) for name, box in objects)
            samples.append(RawSample(image, image.name, boxes, problem))
    described = {image for _, image, _, _ in parsed}
    samples += [RawSample(image, image.name, None) for image in image_files(images_dir) if image not in described]
    return RawDataset(names, samples, {"source": "local", "format": "voc", "path": str(root)})


Corners = tuple[float, float, float, float]


def _parse(xml: Path, images_dir: Path) -> tuple[Path | None, list[tuple[str, Corners]], str | None]:
    """The image an XML describes, its (class name, normalised box) objects, and what is wrong."""
    stem_matches = [images_dir / f"{xml.stem}{suffix}" for suffix in sorted(IMAGE_SUFFIXES)]
    fallback = next((path for path in stem_matches if path.is_file()), None)
    try:
        annotation = ElementTree.parse(xml).getroot()
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        return fallback, [], f"malformed XML: {exc}"
    filename = (annotation.findtext("filename") or "").strip()
    image = images_dir / Path(filename).name if filename and (images_dir / Path(filename).name).is_file() else fallback
    if image is None:
        return None, [], f"no image for this XML (<filename> {filename or 'missing'}; no {xml.stem}.* beside it)"
    try:
        with Image.open(image) as opened:
            width, height = opened.size
    except OSError as exc:
        return image, [], f"the image does not open: {exc}"
    declared = (annotation.findtext("size/width"), annotation.findtext("size/height"))
    if all(declared) and (_number(declared[0]), _number(declared[1])) != (width, height):
        return image, [], f"the XML's <size> is {declared[0]}x{declared[1]} but the image is {width}x{height}"
    objects = []
    for number, element in enumerate(annotation.iter("object"), start=1):
        name = (element.findtext("name") or "").strip()
        corners = [_number(element.findtext(f"bndbox/{key}")) for key in ("xmin", "ymin", "xmax", "ymax")]
        if not name or None in corners:
            return image, [], f"object {number}: needs <name> and a <bndbox> with xmin, ymin, xmax, ymax numbers"
        x1, y1, x2, y2 = (float(value) for value in corners if value is not None)
        box: Corners = ((x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height)
        objects.append((name, box))
    return image, objects, None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
