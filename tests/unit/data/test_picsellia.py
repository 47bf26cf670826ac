"""The Picsellia adapter against a fake client at the SDK boundary.

Picsellia's servers cannot be reached from CI, so `client_factory` returns an in-process fake
that behaves like `picsellia.Client` for the calls we make (get_dataset → get_version →
list_assets / build_coco_file_locally, Asset.download). The real SDK's COCOFile model is used
for the annotations so that its serialisation is exercised for real.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from picsellia.types.enums import AnnotationStatus
from picsellia_annotations.coco import COCOFile

from fingercount.data.sources.local import read_yolo_folder
from fingercount.data.sources.picsellia import PicselliaSource
from fingercount.errors import ConfigError, SourceUnavailableError


class FakeAsset:
    def __init__(self, path: Path, downloads: list[str]) -> None:
        self.filename = path.name
        self._path = path
        self._downloads = downloads

    def download(self, target_path: Path, force_replace: bool = False) -> None:
        self._downloads.append(self.filename)
        shutil.copy(self._path, Path(target_path) / self.filename)


class FakeVersion:
    def __init__(self, folder: Path, downloads: list[str], statuses: list[Any]) -> None:
        self.folder = folder
        self.downloads = downloads
        self.statuses = statuses

    def list_assets(self) -> list[FakeAsset]:
        return [FakeAsset(p, self.downloads) for p in sorted((self.folder / "images").iterdir())]

    def build_coco_file_locally(self, status: Any = None, assets: Any = None) -> COCOFile:
        self.statuses.append(status)
        dataset = read_yolo_folder(self.folder)
        images, annotations = [], []
        for image_id, sample in enumerate(sorted(dataset.samples, key=lambda s: s.name)):
            images.append({"id": image_id, "file_name": sample.name, "width": 128, "height": 128})
            for box in sample.boxes or ():
                x, y = (box.cx - box.w / 2) * 128, (box.cy - box.h / 2) * 128
                annotations.append(
                    {"id": len(annotations), "image_id": image_id, "category_id": box.class_id,
                     "bbox": [x, y, box.w * 128, box.h * 128], "area": 1.0, "iscrowd": 0, "segmentation": []}
                )  # fmt: skip
        categories = [{"id": i, "name": n, "supercategory": ""} for i, n in enumerate(dataset.class_names)]
        return COCOFile(images=images, annotations=annotations, categories=categories)


class FakeClient:
    def __init__(self, version: FakeVersion) -> None:
        self.version = version
        self.asked: list[tuple[str, str]] = []

    def get_dataset(self, name: str) -> Any:
        client = self

        class Dataset:
            def get_version(self, version: str) -> FakeVersion:
                client.asked.append((name, version))
                return client.version

        return Dataset()


@pytest.fixture
def fake(synthetic_folder: Path) -> FakeClient:
    return FakeClient(FakeVersion(synthetic_folder, [], []))


def make_source(tmp_path: Path, fake: FakeClient, **kwargs: Any) -> PicselliaSource:
    token = tmp_path / "picsellia_token"
    token.write_text("secret-token\n")
    return PicselliaSource(
        "Photos Floutées", "new_version", tmp_path / "raw", token_file=token,
        client_factory=lambda tok, org, host: fake if tok == "secret-token" else None, **kwargs,
    )  # fmt: skip


def test_downloads_assets_and_accepted_annotations(tmp_path: Path, fake: FakeClient) -> None:
    dataset = make_source(tmp_path, fake).load(progress=False)
    assert fake.asked == [("Photos Floutées", "new_version")]
    assert fake.version.statuses == [AnnotationStatus.ACCEPTED]
    assert len(dataset.samples) == 30
    assert dataset.class_names == ["1", "2", "3", "4", "5"]
    assert len(fake.version.downloads) == 30
    assert all(s.image.is_file() for s in dataset.samples)
    assert dataset.description["source"] == "picsellia"


def test_second_run_downloads_only_what_is_missing(tmp_path: Path, fake: FakeClient) -> None:
    source = make_source(tmp_path, fake)
    source.load(progress=False)
    images = sorted((source.folder / "images").iterdir())
    images[0].unlink()
    images[1].write_bytes(b"")  # an interrupted download
    fake.version.downloads.clear()
    source.load(progress=False)
    assert sorted(fake.version.downloads) == sorted([images[0].name, images[1].name])
    fake.version.downloads.clear()
    source.load(progress=False)
    assert fake.version.downloads == []


def test_missing_token_is_one_clear_error(tmp_path: Path, fake: FakeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PICSELLIA_TOKEN", raising=False)
    source = PicselliaSource("d", "v", tmp_path, token_file=tmp_path / "absent", client_factory=lambda *a: fake)
    with pytest.raises(ConfigError, match="set PICSELLIA_TOKEN or write the token into"):
        source.load(progress=False)


def test_environment_token_wins(tmp_path: Path, fake: FakeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    monkeypatch.setenv("PICSELLIA_TOKEN", "from-env")
    source = PicselliaSource("d", "v", tmp_path, client_factory=lambda tok, *a: seen.append(tok) or fake)
    source.load(progress=False)
    assert seen == ["from-env"]


def test_unreachable_server_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> Any:
        raise ConnectionError("Max retries exceeded with url: /api/ping\n(long urllib3 details)")

    monkeypatch.setenv("PICSELLIA_TOKEN", "t")
    source = PicselliaSource("Photos Floutées", "new_version", tmp_path, client_factory=refuse)
    with pytest.raises(SourceUnavailableError) as info:
        source.load(progress=False)
    assert "\n" not in str(info.value)
    assert "cannot fetch 'Photos Floutées' version 'new_version': Max retries exceeded" in str(info.value)
