"""The plinth command line, run in-process with typer's runner: outputs and every bad-input path."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image
from typer.testing import CliRunner

from plinth.cli.main import app
from plinth.cli.settings import get_cli_settings
from plinth.imaging.backgrounds import list_themes, load_theme
from plinth.imaging.manifest import validate_manifest

SHA_DIR = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(autouse=True)
def no_installed_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test runs as on a machine with no model installed (an empty PLINTH_MODEL_DIR) and
    no PLINTH_SEGMENT_* settings, whatever this machine has: ``auto`` is then ``local``."""
    for name in list(os.environ):
        if name.startswith("PLINTH_SEGMENT_") or name == "PLINTH_ONNX_MODEL_PATH":
            monkeypatch.delenv(name)
    model_dir = tmp_path / "no-models"
    model_dir.mkdir()
    monkeypatch.setenv("PLINTH_MODEL_DIR", str(model_dir))
    get_cli_settings.cache_clear()
    yield model_dir
    get_cli_settings.cache_clear()


def tiny_model(path: Path) -> Path:
    """An ONNX "salient-object model" for the default contract ((rgb - 128) / 256 in, a 0..1
    map out): sigmoid(-20 * mean over channels), so darker than mid-grey is product."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["m"], axes=[1], keepdims=1),
         helper.make_node("Mul", ["m", "gain"], ["z"]),
         helper.make_node("Sigmoid", ["z"], ["saliency"])],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("saliency", TensorProto.FLOAT, [1, 1, "h", "w"])],
        initializer=[helper.make_tensor("gain", TensorProto.FLOAT, [], [-20.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


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
        (["--sku", "ok", "--provider", "onnx"], "plinth models install isnet-medium"),
        (["--sku", "ok", "--provider", "learned"], "plinth models install isnet-medium"),
        (["--sku", "ok", "--provider", "learned", "--model", "isnet-small"],
         "plinth models install isnet-small"),
        (["--sku", "ok", "--provider", "onnx", "--model", "missing.onnx"],
         "neither an installed model"),
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
    assert "provider local" in result.output, "auto with no model installed is local"


def test_segment_with_an_onnx_model_file(runner: CliRunner, photo: Path, tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "tiny.onnx")
    cut = tmp_path / "out" / "cut.png"
    result = runner.invoke(app, ["segment", str(photo), str(cut), "--provider", "onnx",
                                 "--model", str(model)])
    assert result.exit_code == 0, result.output
    assert "provider learned" in result.output
    image = Image.open(cut)
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (320, 320)
    rgba = np.asarray(image)
    assert rgba[200, 160, 3] == 255, "the bottle body is opaque"
    assert rgba[10, 10, 3] == 0 and rgba[265, 230, 3] == 0, "backdrop and shadow are clear"
    assert rgba[10, 10, :3].max() == 0, "clear pixels are black"
    assert rgba[200, 160, 0] > 3 * rgba[200, 160, 1], "the bottle stays red"


def test_segment_with_learned_and_no_installed_model_exits_2(
    runner: CliRunner, photo: Path, tmp_path: Path, no_installed_models: Path
) -> None:
    out = tmp_path / "cut.png"
    result = runner.invoke(app, ["segment", str(photo), str(out), "--provider", "learned"])
    assert result.exit_code == 2, result.output
    assert "plinth models install" in result.output
    assert str(no_installed_models) in result.output, "it says where it looked"
    assert not out.exists()


def test_segment_with_an_invalid_model_contract_is_a_usage_error(
    runner: CliRunner, photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLINTH_SEGMENT_MODEL_STD", "[0, 1, 1]")
    get_cli_settings.cache_clear()
    model = tiny_model(tmp_path / "tiny.onnx")
    out = tmp_path / "c.png"
    result = runner.invoke(app, ["segment", str(photo), str(out),
                                 "--provider", "onnx", "--model", str(model)])
    assert result.exit_code == 2, result.output
    assert "positive stds" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), "no traceback"
    assert not out.exists()


def test_segment_with_an_unknown_provider_lists_every_provider(
    runner: CliRunner, photo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "c.png"
    result = runner.invoke(app, ["segment", str(photo), str(out), "--provider", "photoshop"])
    assert result.exit_code == 2, result.output
    assert "unknown segment provider 'photoshop'" in result.output
    assert "auto, learned, onnx, local, freepik" in result.output
    assert not out.exists()


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
