"""``plinth``: run the image pipeline on local files, with no Kafka, MongoDB or S3.

Exit codes: 0 success, 1 a photo could not be processed (the others still are), 2 bad usage or
configuration (unknown theme or provider, unreadable file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from plinth.cli.models import models_app
from plinth.cli.settings import get_cli_settings
from plinth.imaging.backgrounds import Theme, list_themes, load_theme, render_background
from plinth.imaging.decode import encode_jpeg
from plinth.imaging.errors import ImagingError
from plinth.imaging.segment import SegmentProvider
from plinth.keys import InvalidKeyPart
from plinth.models.segmenters import PROVIDERS, build_segmenter, config_from_settings
from plinth.pipeline import STEP_NAMES, PhotoRun, run_photo
from plinth.stages import segment_photo

app = typer.Typer(
    name="plinth",
    help="Plinth product-image pipeline: cut out, stage on themed backgrounds, render derivatives.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
themes_app = typer.Typer(help="List and preview background themes.", no_args_is_help=True)
app.add_typer(themes_app, name="themes")
app.add_typer(models_app, name="models")

out = Console()
# soft_wrap: an error names a path in full, never broken across lines.

err = Console(stderr=True, soft_wrap=True)


ProviderOption = Annotated[str | None, typer.Option(
    help=f"Segmentation: {', '.join(PROVIDERS)} (default: PLINTH_SEGMENT_PROVIDER, auto)."
)]
ModelOption = Annotated[str | None, typer.Option(
    help="Installed model name (plinth models list) or an ONNX file for --provider onnx."
)]


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _provider(name: str | None, model: str | None) -> SegmentProvider:
    """The provider the options name, else the one the settings name (``auto`` by default)."""
    settings = get_cli_settings()
    overrides: dict[str, Any] = {}
    if name is not None:
        overrides["provider"] = name
    if model is not None:
        overrides["model"] = model
    config = config_from_settings(settings, **overrides)
    if config.provider.strip().lower() == "freepik":
        fail(
            "the freepik provider fetches images by URL, so it runs in the services "
            "(where originals have presigned S3 URLs); use --provider auto, learned or local here"
        )
    try:
        return build_segmenter(config)
    except ImagingError as exc:
        fail(exc.message)


def _themes(names: list[str]) -> list[Theme]:
    try:
        return [load_theme(name) for name in dict.fromkeys(names)]
    except ImagingError as exc:
        fail(exc.message)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")


def _write_tree(root: Path, artefacts: dict[str, bytes]) -> None:
    for key, data in artefacts.items():
        target = root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@app.command()
def process(
    images: Annotated[list[Path], typer.Argument(help="Product photos to process.")],
    sku: Annotated[str, typer.Option(help="The product's SKU (used in every key).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the S3 key layout.")],
    theme: Annotated[
        list[str], typer.Option("--theme", "-t", help="Theme; repeat for several.")
    ] = ["default"],  # noqa: B006 - typer needs a literal default
    provider: ProviderOption = None,
    model: ModelOption = None,
    variants: Annotated[
        int | None, typer.Option(min=1, max=12, help="Backgrounds per theme (default: theme's).")
    ] = None,
) -> None:
    """Run every stage on IMAGES and write the artefacts under OUT in the S3 key layout."""
    from plinth.keys import validate_sku

    try:
        validate_sku(sku)
    except InvalidKeyPart as exc:
        fail(str(exc))
    chosen = _themes(theme)
    segmenter = _provider(provider, model)
    settings = get_cli_settings()
    runs: list[tuple[Path, PhotoRun]] = []
    failures: list[tuple[Path, str]] = []
    progress = Progress(
        TextColumn("[bold]{task.fields[photo]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[step]}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )
    with progress:
        task = progress.add_task("photos", total=len(images), photo="", step="")
        for path in images:
            progress.update(task, photo=path.name, step="reading")
            try:
                data = path.read_bytes()
                run = run_photo(
                    data,
                    sku=sku,
                    themes=chosen,
                    provider=segmenter,
                    variants=variants,
                    max_pixels=settings.max_image_pixels,
                    max_bytes=settings.max_image_bytes,
                    on_step=lambda step: progress.update(task, step=step),
                )
            except OSError as exc:
                failures.append((path, f"cannot read: {exc.strerror or exc}"))
            except (ImagingError, InvalidKeyPart) as exc:
                failures.append((path, str(exc)))
            else:
                _write_tree(out_dir, run.artefacts)
                runs.append((path, run))
            progress.advance(task)

    if runs:
        out.print(_summary(runs))
        out.print(f"wrote {sum(len(r.artefacts) for _, r in runs)} files under {out_dir}")
    for path, reason in failures:
        err.print(f"[bold red]failed:[/] {path}: {reason}", highlight=False)
    if failures:
        raise typer.Exit(1)


SHORT_STEP = {"segmentation": "segment", "backgrounds": "bg", "compositing": "composite",
              "derivatives": "derive"}
"""Column headers short enough for an 80-column terminal."""


def _summary(runs: list[tuple[Path, PhotoRun]]) -> Table:
    table = Table(title="Time per stage, ms")
    table.add_column("photo", overflow="fold")
    for step in STEP_NAMES:
        table.add_column(SHORT_STEP.get(step, step), justify="right", no_wrap=True)
    table.add_column("files", justify="right")
    for path, run in runs:
        table.add_row(
            path.name,
            *(f"{run.timings_ms[s]:.0f}" if s in run.timings_ms else "-" for s in STEP_NAMES),
            str(len(run.artefacts)),
        )
    return table


@app.command()
def segment(
    image: Annotated[Path, typer.Argument(help="Product photo.")],
    output: Annotated[Path, typer.Argument(help="Where to write the RGBA cutout (PNG).")],
    provider: ProviderOption = None,
    model: ModelOption = None,
    mask: Annotated[Path | None, typer.Option(help="Also write the 8-bit mask here.")] = None,
) -> None:
    """Cut the product out of IMAGE and write the RGBA cutout to OUTPUT."""
    if output.suffix.lower() != ".png":
        fail(f"{output} must end in .png: a cutout needs an alpha channel")
    data = _read(image)
    segmenter = _provider(provider, model)
    settings = get_cli_settings()
    try:
        result = segment_photo(
            data, segmenter, max_pixels=settings.max_image_pixels,
            max_bytes=settings.max_image_bytes,
        )
    except ImagingError as exc:
        fail(f"{image}: {exc.message}", code=1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(result.cutout_png)
    if mask is not None:
        mask.parent.mkdir(parents=True, exist_ok=True)
        mask.write_bytes(result.mask_png)
    out.print(f"wrote {output} ({result.width}x{result.height}, provider {result.provider})")


@themes_app.command("list")
def themes_list() -> None:
    """The packaged themes."""
    table = Table(title="Themes")
    for column in ("name", "title", "kind", "variants", "placement"):
        table.add_column(column)
    for name in list_themes():
        theme = load_theme(name)
        placement = "floor" if theme.stands_on_floor else "centre"
        table.add_row(name, theme.title, theme.background.kind, str(theme.variants), placement)
    out.print(table)


@themes_app.command("preview")
def themes_preview(
    name: Annotated[str, typer.Argument(help="Theme name (see 'plinth themes list').")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the preview JPEGs.")],
    size: Annotated[int, typer.Option(min=64, max=4000, help="Side of the square preview.")] = 800,
    cutout: Annotated[
        Path | None, typer.Option(help="Also composite this RGBA cutout onto each variant.")
    ] = None,
) -> None:
    """Render every variant of theme NAME (optionally with a product on it) as JPEGs."""
    theme = _themes([name])[0]
    product = None
    if cutout is not None:
        from plinth.imaging.decode import decode_image

        try:
            product = decode_image(_read(cutout)).rgba()
        except ImagingError as exc:
            fail(f"{cutout}: {exc.message}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for variant in range(theme.variants):
        background = render_background(theme, variant, (size, size))
        if product is not None:
            from plinth.imaging.composite import composite

            background = composite(product, background, theme)
        path = out_dir / f"{theme.name}_{variant}.jpg"
        path.write_bytes(encode_jpeg(background))
        out.print(f"wrote {path}")


def main() -> None:  # pragma: no cover - console-script shim
    app()

