"""`fingercount data …`: generate, import, download, prepare, label and inspect datasets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from fingercount.cli.common import (
    DATA_CONFIG,
    TRAINING_CONFIG,
    ConfigOption,
    QuietOption,
    TrainingConfigOption,
    default_of,
    needed_config,
    optional_config,
)
from fingercount.config import SyntheticSourceConfig
from fingercount.errors import ConfigError

if TYPE_CHECKING:
    from fingercount.config import DatasetConfig
    from fingercount.labels import RawDataset

data_app = typer.Typer(help="Datasets: generate, import, download, prepare and inspect.", no_args_is_help=True)


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option(help="Folder to write (images/, labels/, data.yaml).")] = Path("data/synthetic"),
    images: Annotated[int, typer.Option(min=1, help="Number of images.")] = default_of(SyntheticSourceConfig, "images"),
    seed: Annotated[int, typer.Option(help="Same seed, same images.")] = default_of(SyntheticSourceConfig, "seed"),
    img_size: Annotated[int, typer.Option(min=64, max=2048, help="Square image side in pixels.")] = default_of(
        SyntheticSourceConfig, "img_size"
    ),
    max_hands: Annotated[int, typer.Option(min=1, max=8, help="At most this many hands per image.")] = default_of(
        SyntheticSourceConfig, "max_hands"
    ),
    include_fist: Annotated[bool, typer.Option(help="Also draw fists (class '0').")] = default_of(
        SyntheticSourceConfig, "include_fist"
    ),
    quiet: QuietOption = False,
) -> None:
    """Generate a synthetic hand dataset in YOLO format (class = number of raised fingers)."""
    from fingercount.data.sources.synthetic import write_synthetic

    spec = SyntheticSourceConfig(
        images=images, seed=seed, img_size=img_size, max_hands=max_hands, include_fist=include_fist
    )
    folder = write_synthetic(out, spec, progress=not quiet)
    typer.echo(f"wrote {images} images to {folder}")


@data_app.command("import")
def data_import(
    path: Annotated[
        Path,
        typer.Argument(help="A YOLO folder (images/ + labels/ [+ data.yaml]), a Pascal VOC folder or a COCO .json."),
    ],
    format: Annotated[str, typer.Option("--format", help="auto, yolo, coco or voc.")] = "auto",  # noqa: A002
    class_map: Annotated[
        list[str] | None,
        typer.Option(
            "--class-map",
            help="NAME=COUNT or NAME=skip, once per class name the built-in mapping does not understand "
            "(it knows 3, three, 3-hand, 3_fingers, fist…).",
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(help="Regular expression on file names whose first group names a session or person."),
    ] = None,
    verify: Annotated[
        str, typer.Option(help="teacher: check each labelled hand with the hand-landmark teacher; none: don't.")
    ] = "none",
    on_disagree: Annotated[
        str, typer.Option(help="With --verify teacher: leave_out the image of a hand counted otherwise, or relabel it.")
    ] = "leave_out",
    disagree_by: Annotated[
        int,
        typer.Option(help="With --verify teacher: fingers the teacher's count must differ by (it is often one off)."),
    ] = 2,
    out: Annotated[Path, typer.Option(help="Prepared dataset folder.")] = Path("data/prepared"),
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Data config (its preprocessing section; none when the default is not there).",
            show_default=str(DATA_CONFIG),
        ),
    ] = None,
    training_config: TrainingConfigOption = None,
    quiet: QuietOption = False,
) -> None:
    """Import a local dataset: validate, map class names to counts, convert to YOLO and split it into OUT."""
    from fingercount.config import DataConfig, SourceConfig, load_data_config
    from fingercount.data.sources.classes import CountedSource
    from fingercount.data.sources.local import LocalSource

    if format not in {"auto", "yolo", "coco", "voc"}:
        raise typer.BadParameter("must be auto, yolo, coco or voc", param_hint="--format")
    mapping: dict[str, int | str] = {}
    for entry in class_map or []:
        name, sep, value = entry.rpartition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{entry!r}: expected NAME=COUNT or NAME=skip", param_hint="--class-map")
        mapping[name] = int(value) if value.strip().isdigit() else value.strip()
    try:  # validated as a config's source would be
        settings = {
            "type": "local", "local": {"path": path}, "class_map": mapping, "group": group,
            "verify": verify, "on_disagree": on_disagree, "disagree_by": disagree_by,
        }  # fmt: skip
        source = SourceConfig.model_validate(settings)
    except ValidationError as exc:
        problem = exc.errors()[0]
        option = str(problem["loc"][0]).replace("_", "-")
        raise ConfigError(f"--{option}: {problem['msg'].removeprefix('Value error, ')}") from None
    split = _split_settings(training_config)
    data_config = optional_config(config, DATA_CONFIG, load_data_config, DataConfig)
    counted = CountedSource(
        LocalSource(path, format), dict(source.class_map), source.group, source.verify, source.on_disagree,
        data_config.raw_dir, source.disagree_by,
    )  # fmt: skip
    steps = data_config.preprocessing.steps()
    _prepare(counted.load(progress=not quiet), out, split, steps, quiet)


@data_app.command("download")
def data_download(config: ConfigOption = None, quiet: QuietOption = False) -> None:
    """Download the Picsellia dataset version named in the data config (skips files already complete)."""
    from fingercount.config import load_data_config
    from fingercount.data.sources.picsellia import PicselliaSource

    settings = load_data_config(needed_config(config, DATA_CONFIG, "--config")).source.picsellia
    source = PicselliaSource(**settings.model_dump())
    dataset = source.load(progress=not quiet)
    typer.echo(f"{len(dataset.samples)} images with ACCEPTED annotations in {source.folder}")


@data_app.command("prepare")
def data_prepare(
    config: ConfigOption = None,
    training_config: TrainingConfigOption = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: the config's output_dir).")] = None,
    quiet: QuietOption = False,
) -> None:
    """Fetch the configured source, validate every file, and split it into train/val/test."""
    from fingercount.config import load_data_config
    from fingercount.data.sources import source_from_config

    data_config = load_data_config(needed_config(config, DATA_CONFIG, "--config"))
    split = _split_settings(training_config)  # validate every config before any work starts
    dataset = source_from_config(data_config).load(progress=not quiet)
    _prepare(dataset, out or data_config.output_dir, split, data_config.preprocessing.steps(), quiet)


def _split_settings(training_config: Path | None) -> DatasetConfig:
    """The split (ratios, seed): the training config's, else the built-in one."""
    from fingercount.config import TrainingConfig, load_training_config

    return optional_config(training_config, TRAINING_CONFIG, load_training_config, TrainingConfig).dataset


def _prepare(
    dataset: RawDataset, out: Path, split: DatasetConfig, steps: list[tuple[str, dict[str, Any]]], quiet: bool
) -> None:
    from fingercount.data.prepare import prepare
    from fingercount.preprocessing import build_pipeline

    pipeline = build_pipeline(steps)
    result = prepare(dataset, out, split.split_ratios.as_dict(), split.seed, progress=not quiet, pipeline=pipeline)
    sizes = ", ".join(f"{name} {info['images']}" for name, info in result.manifest["splits"].items())
    typer.echo(f"prepared {out}: {sizes}; skipped {len(result.skipped)} (see {out / 'report.json'})")
    for note in dataset.notes:
        typer.echo(f"  {note}")
    _echo_some([f"skipped {item.file}: {item.reason} ({item.detail})" for item in result.skipped])


def _echo_some(lines: list[str], shown: int = 10) -> None:
    """The first few files a step left out, on stderr; the rest are in its report.json."""
    for line in lines[:shown]:
        typer.echo(f"  {line}", err=True)
    if len(lines) > shown:
        typer.echo(f"  … and {len(lines) - shown} more in report.json", err=True)


@data_app.command("label")
def data_label(
    src: Annotated[Path, typer.Argument(help="Count folders (SRC/<count>/*.jpg) or any folder of hand photos.")],
    out: Annotated[Path, typer.Option(help="YOLO dataset to write (images/, labels/, data.yaml, report.json).")],
    on_mismatch: Annotated[
        str,
        typer.Option(help="Count folders: a photo with another teacher count or several hands is 'skip'ped or 'keep'."),
    ] = "skip",
    quiet: QuietOption = False,
) -> None:
    """Box (and count) the hands in real photos with the hand-landmark teacher (needs the `label` extra)."""
    from fingercount.labeling.folders import label_folder

    if on_mismatch not in {"skip", "keep"}:
        raise typer.BadParameter("must be skip or keep", param_hint="--on-mismatch")
    result = label_folder(src, out, on_mismatch, progress=not quiet)  # type: ignore[arg-type]
    summary = result.to_dict()
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(summary["reasons"].items())) or "none"
    typer.echo(f"labelled {out}: kept {result.kept}; listed: {reasons} (see {out / 'report.json'})")
    if result.agreement is not None:
        typer.echo(f"teacher agrees with the folder count on {result.agreement:.1%} of the photos")
    _echo_some([f"{item['file']}: {item['reason']} ({item.get('action', 'skipped')})" for item in result.listed])


@data_app.command("stats")
def data_stats(folder: Annotated[Path, typer.Argument(help="A prepared dataset folder.")]) -> None:
    """Images, boxes and class counts per split of a prepared dataset, and the licence of each real set in it."""
    from fingercount.data.fetch import licences
    from fingercount.data.prepare import SPLITS, load_manifest

    manifest = load_manifest(folder)
    classes = manifest["classes"]
    typer.echo(f"{folder}  content hash {manifest['content_hash'][:12]}  seed {manifest['seed']}")
    typer.echo(f"{'split':<6} {'images':>7} {'boxes':>7}  " + " ".join(f"{name:>6}" for name in classes))
    for split in SPLITS:
        info = manifest["splits"][split]
        counts = " ".join(f"{info['class_counts'][name]:>6}" for name in classes)
        typer.echo(f"{split:<6} {info['images']:>7} {info['boxes']:>7}  {counts}")
    for part, about in licences(manifest.get("source", {})).items():
        typer.echo(f"{part}: {about.name}, {about.licence}; from {about.source} @ {about.revision[:12]}")


@data_app.command("fetch")
def data_fetch(
    names: Annotated[list[str] | None, typer.Argument(help="Sets to fetch (default: all three).")] = None,
    mirror: Annotated[
        str | None,
        typer.Option(
            "--from", help="Where the sets' archives are: an http(s) address or a folder (or FINGERCOUNT_DATA_MIRROR)."
        ),
    ] = None,
    from_source: Annotated[
        str | None,
        typer.Option(
            "--from-source",
            help="Build each set from its public repository at the pinned commit: 'github' (downloads the "
            "host's archive of that commit), another host's address in the same layout, or a folder holding "
            "the repositories checked out (or their .tar.gz) for offline machines.",
        ),
    ] = None,
    into: Annotated[Path, typer.Option(help="The folder the recipes read the sets from.")] = Path("../shared/datasets"),
    check_only: Annotated[bool, typer.Option("--check", help="Only check the sets already there.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Bring the real-photo sets a clone does not have, checked by content hash, or check those there.

    --from-source builds each from its public source: every original checked against its pinned
    sha256, the copy derived as the set's README says (resize, JPEG quality 88, boxes scaled),
    checked against the catalogue, with its licence and attribution (SOURCE.md). --from takes a
    ready copy from a mirror. Either way a failure is one line and nothing is written.
    """
    import os

    from fingercount.data.fetch import CATALOGUE, MIRROR_ENV, check, fetch
    from fingercount.data.from_source import DEFAULT_HOST, build

    chosen = names or list(CATALOGUE)
    unknown = [name for name in chosen if name not in CATALOGUE]
    if unknown:
        raise typer.BadParameter(f"unknown set(s) {', '.join(unknown)}; the sets are {', '.join(CATALOGUE)}")
    if check_only:
        for name in chosen:
            typer.echo(f"{name}: {'ok' if check(name, into) else 'missing or changed'} in {into}")
        return
    if from_source is not None and mirror is not None:
        raise typer.BadParameter("choose one: --from-source (the public repositories) or --from (a mirror's copies)")
    source = mirror or os.environ.get(MIRROR_ENV)
    if from_source is None and not source:
        raise ConfigError(
            "say where the sets come from: --from-source github (their public repositories), or --from "
            f"URL_OR_FOLDER (or {MIRROR_ENV}) holding a mirror's NAME.tar.gz copies"
        )
    for name in chosen:
        about = CATALOGUE[name]
        if from_source is not None:
            host = DEFAULT_HOST if from_source == "github" else from_source
            folder = build(name, host, into, progress=not quiet)
        else:
            assert source is not None
            folder = fetch(name, source, into)
        typer.echo(
            f"{name}: {about.files} files in {folder} ({about.licence}; from {about.source} @ {about.revision[:12]})"
        )


@data_app.command("pack")
def data_pack(
    folders: Annotated[list[Path], typer.Argument(help="Set folders to archive for a mirror.")],
    out: Annotated[Path, typer.Option(help="Folder to write NAME.tar.gz into.")] = Path("mirror"),
) -> None:
    """Archive set folders for a mirror that `data fetch --from` reads; prints each content hash."""
    from fingercount.data.fetch import pack, tree_hash

    for folder in folders:
        if not folder.is_dir():
            raise typer.BadParameter(f"{folder}: not a folder")
        digest, files = tree_hash(folder)
        typer.echo(f"{pack(folder, out)}: {files} files, content sha256 {digest}")
