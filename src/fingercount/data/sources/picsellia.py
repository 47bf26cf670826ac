"""Picsellia datasets through the official SDK.

Assets land in `download_dir/<dataset>/<version>/images`, the ACCEPTED annotations in
`annotations.json` (COCO) beside them; a later run downloads only what is missing on disk.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from tqdm import tqdm

from fingercount.data.sources.base import register_source
from fingercount.data.sources.local import read_coco
from fingercount.errors import ConfigError, SourceUnavailableError
from fingercount.labels import RawDataset


def read_token(token_file: Path) -> str:
    """`PICSELLIA_TOKEN` wins over the token file (`PICSELLIA_TOKEN_FILE`, e.g. a Docker secret,
    over the config's `token_file`); neither is a clear error."""
    token = os.environ.get("PICSELLIA_TOKEN", "").strip()
    token_file = Path(os.environ.get("PICSELLIA_TOKEN_FILE") or token_file)
    if not token and token_file.is_file():
        token = token_file.read_text(encoding="utf-8").strip()
    if not token:
        raise ConfigError(f"no Picsellia token: set PICSELLIA_TOKEN or write the token into {token_file}")
    return token


def _default_client(token: str, organization: str | None, host: str) -> Any:
    import picsellia  # imported here: the SDK is slow to import and only this source needs it

    return picsellia.Client(api_token=token, organization_name=organization, host=host)


@register_source
class PicselliaSource:
    name: ClassVar[str] = "picsellia"

    def __init__(
        self,
        dataset_name: str,
        version: str,
        download_dir: Path,
        token_file: Path = Path("picsellia_token"),
        organization: str | None = None,
        host: str = "https://app.picsellia.com",
        client_factory: Any = _default_client,
    ) -> None:
        self.dataset_name = dataset_name
        self.version = version
        self.host = host
        self.organization = organization
        self.token_file = Path(token_file)
        self.folder = Path(download_dir) / dataset_name / version
        self._client_factory = client_factory  # the SDK boundary; tests pass a fake client

    def load(self, progress: bool = True) -> RawDataset:
        token = read_token(self.token_file)
        try:
            client = self._client_factory(token, self.organization, self.host)
            dataset_version = client.get_dataset(self.dataset_name).get_version(self.version)
            assets = list(dataset_version.list_assets())
            self._download_missing(assets, progress)
            from picsellia.types.enums import AnnotationStatus

            coco = dataset_version.build_coco_file_locally(status=AnnotationStatus.ACCEPTED, assets=assets)
        except (ConfigError, SourceUnavailableError):
            raise
        except Exception as exc:  # the SDK raises many types (network, auth, not found)
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SourceUnavailableError(
                f"Picsellia ({self.host}): cannot fetch {self.dataset_name!r} version {self.version!r}: {first_line}"
            ) from None
        annotations = self.folder / "annotations.json"
        annotations.write_text(coco.model_dump_json(by_alias=True), encoding="utf-8")
        dataset = read_coco(annotations)
        dataset.description = {
            "source": "picsellia",
            "dataset": self.dataset_name,
            "version": self.version,
            "host": self.host,
        }
        return dataset

    def _download_missing(self, assets: list[Any], progress: bool) -> None:
        """Download assets whose file is absent or empty; a complete folder downloads nothing."""
        images = self.folder / "images"
        images.mkdir(parents=True, exist_ok=True)
        missing = [
            a for a in assets if not (images / a.filename).is_file() or (images / a.filename).stat().st_size == 0
        ]
        staging = self.folder / ".downloading"  # an interrupted file never looks complete
        staging.mkdir(exist_ok=True)
        for asset in tqdm(missing, desc="downloading from Picsellia", unit="img", disable=not progress or not missing):
            asset.download(staging, force_replace=True)
            (staging / asset.filename).replace(images / asset.filename)
        staging.rmdir()
