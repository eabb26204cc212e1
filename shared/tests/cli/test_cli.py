"""The plinth command line, run in-process with typer's runner: outputs and every bad-input path."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from plinth.cli.main import app
from plinth.imaging.backgrounds import list_themes, load_theme
from plinth.imaging.manifest import validate_manifest

SHA_DIR = re.compile(r"^[0-9a-f]{64}$")


def product_photo(size: int = 320) -> bytes:
    """A shaded red bottle-ish shape on an off-white backdrop with a soft shadow."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    photo = np.full((size, size, 3), (246, 245, 242), np.float32)
    shadow = np.exp(-(((xx - size * 0.55) / (size * 0.2)) ** 2 + ((yy - size * 0.83) / 12) ** 2))
    photo *= 1 - 0.25 * shadow[..., None]
    body = (np.abs(xx - size / 2) < size * 0.14) & (yy > size * 0.3) & (yy < size * 0.82)
    neck = (np.abs(xx - size / 2) < size * 0.05) & (yy > size * 0.15) & (yy <= size * 0.3)
    shade = 0.65 + 0.35 * np.cos((xx - size / 2) / (size * 0.14) * 1.2)
    product = body | neck
    photo[product] = np.stack([200 * shade, 30 * shade, 40 * shade], -1)[product]
    buf = io.BytesIO()
    Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=93)
    return buf.getvalue()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "bottle.jpg"
    path.write_bytes(product_photo())
    return path


def test_process_writes_the_s3_key_layout(runner: CliRunner, photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["process", str(photo), "--sku", "SKU-1", "--theme", "default", "--out", str(out),
              "--variants", "1"],
    )
    assert result.exit_code == 0, result.output
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    sha = next(p.stem for p in (out / "originals" / "SKU-1").iterdir())
    assert SHA_DIR.match(sha)
    expected = {
        f"originals/SKU-1/{sha}.jpg",
        f"cutouts/SKU-1/{sha}.png",
        f"masks/SKU-1/{sha}.png",
        f"backgrounds/default/SKU-1/{sha}_0.jpg",
        f"composites/default/SKU-1/{sha}_0.jpg",
        f"manifests/SKU-1/{sha}-default.json",
        *(
            f"derivatives/default/SKU-1/{sha}/0_{size}.{fmt}"
            for size in ("hero", "pdp", "thumb")
            for fmt in ("jpg", "webp", "avif")
        ),
    }
    assert expected <= set(files)
    assert (out / f"originals/SKU-1/{sha}.jpg").read_bytes() == photo.read_bytes()
    cutout = Image.open(out / f"cutouts/SKU-1/{sha}.png")
    assert cutout.mode == "RGBA"
    hero = Image.open(out / f"derivatives/default/SKU-1/{sha}/0_hero.avif")
    assert max(hero.size) == 2000
    assert "segment" in result.output and "derive" in result.output
    manifest = json.loads((out / f"manifests/SKU-1/{sha}-default.json").read_text())
    validate_manifest(manifest)
    assert manifest["job"]["sku"] == "SKU-1" and manifest["job"]["theme"] == "default"
    assert manifest["totals"]["derivative_count"] == 9
    assert set(manifest["timings_ms"]) >= {"segmentation_ms", "derivatives_ms"}


def test_process_keeps_going_after_a_bad_photo(
    runner: CliRunner, photo: Path, tmp_path: Path
) -> None:
    junk = tmp_path / "notes.jpg"
    junk.write_text("this is not an image")
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["process", str(junk), str(photo), "--sku", "S", "--out", str(out), "--variants", "1"]
    )
    assert result.exit_code == 1
    assert "notes.jpg" in result.output and "not" in result.output.lower()
    assert len(list((out / "composites" / "default" / "S").iterdir())) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sku", "a/b"], "path separator"),
        (["--sku", "ok", "--theme", "no-such-theme"], "unknown theme"),
        (["--sku", "ok", "--provider", "magic"], "unknown segment provider"),
        (["--sku", "ok", "--provider", "onnx"], "--model"),
        (["--sku", "ok", "--provider", "freepik"], "by URL"),
    ],
)
def test_process_refuses_bad_options_with_exit_2(
    runner: CliRunner, photo: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["process", str(photo), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "o").exists(), "nothing may be written on a usage error"


def test_segment_writes_an_rgba_cutout_and_mask(
    runner: CliRunner, photo: Path, tmp_path: Path
) -> None:
    cut, mask = tmp_path / "cut.png", tmp_path / "mask.png"
    result = runner.invoke(app, ["segment", str(photo), str(cut), "--mask", str(mask)])
    assert result.exit_code == 0, result.output
    rgba = np.asarray(Image.open(cut))
    alpha = np.asarray(Image.open(mask))
    assert rgba.shape == (320, 320, 4)
    assert np.array_equal(rgba[..., 3], alpha)
    assert alpha[200, 160] == 255, "the bottle body is opaque"
    assert alpha[10, 10] == 0 and alpha[265, 230] == 0, "backdrop and shadow are transparent"


@pytest.mark.parametrize(
    ("make_args", "code", "message"),
    [
        (lambda p, t: ["segment", str(t / "missing.jpg"), str(t / "o.png")], 2, "cannot read"),
        (lambda p, t: ["segment", str(p), str(t / "o.jpg")], 2, "must end in .png"),
        (lambda p, t: ["segment", str(t / "bad.png"), str(t / "o.png")], 1, "bad.png"),
    ],
)
def test_segment_bad_input(runner: CliRunner, photo: Path, tmp_path: Path, make_args, code: int,  # type: ignore[no-untyped-def]
                           message: str) -> None:
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    result = runner.invoke(app, make_args(photo, tmp_path))
    assert result.exit_code == code, result.output
    assert message in result.output


def test_themes_list_and_preview(runner: CliRunner, tmp_path: Path) -> None:
    listed = runner.invoke(app, ["themes", "list"])
    assert listed.exit_code == 0
    for name in list_themes():
        assert name in listed.output
    result = runner.invoke(app, ["themes", "preview", "default", "--out", str(tmp_path),
                                 "--size", "128"])
    assert result.exit_code == 0, result.output
    previews = sorted(tmp_path.glob("default_*.jpg"))
    assert len(previews) == load_theme("default").variants
    assert Image.open(previews[0]).size == (128, 128)
    missing = runner.invoke(app, ["themes", "preview", "nope", "--out", str(tmp_path)])
    assert missing.exit_code == 2 and "unknown theme" in missing.output
