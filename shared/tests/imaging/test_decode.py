"""Stage 1: decoding every accepted format, every normalisation, every bad-input error."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from plinth.imaging.decode import (
    DecodedImage,
    decode_image,
    decode_rgba,
    encode_jpeg,
    encode_png,
)
from plinth.imaging.errors import (
    DecompressionBombError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedFormatError,
)


def save(im: Image.Image, fmt: str, **params: object) -> bytes:
    if fmt == "HEIF":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def gradient(w: int = 24, h: int = 16) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.float32)
    y = np.linspace(0, 255, h, dtype=np.float32)
    arr = np.dstack(
        [np.broadcast_to(x, (h, w)), np.broadcast_to(y[:, None], (h, w)), np.full((h, w), 90)]
    )
    return Image.fromarray(arr.astype(np.uint8), "RGB")


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, raw: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def s15fixed16(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def linear_rgb_icc() -> bytes:
    """A minimal ICC v2 RGB profile: sRGB primaries (D50-adapted) but LINEAR tone curves."""

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \x00\x00\x00\x00" + s15fixed16(x) + s15fixed16(y) + s15fixed16(z)

    curve = b"curv\x00\x00\x00\x00" + struct.pack(">I", 1) + struct.pack(">H", 0x0100) + b"\0\0"
    text = b"desc\x00\x00\x00\x00" + struct.pack(">I", 7) + b"linear\x00" + b"\0" * 79
    cprt = b"text\x00\x00\x00\x00" + b"none\x00\x00\x00\x00"
    tags = [
        (b"desc", text),
        (b"cprt", cprt),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)),
        (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + s15fixed16(0.9642)
        + s15fixed16(1.0)
        + s15fixed16(0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


# ------------------------------------------------------------------------------ formats


@pytest.mark.parametrize(
    ("fmt", "params", "tolerance"),
    [
        ("JPEG", {"quality": 95}, 12),
        ("PNG", {}, 0),
        ("WEBP", {"lossless": True}, 0),
        ("AVIF", {"quality": 95}, 16),
        ("TIFF", {}, 0),
        ("HEIF", {"quality": 95}, 16),
    ],
)
def test_every_supported_format_decodes_to_srgb_rgb(
    fmt: str, params: dict[str, object], tolerance: int
) -> None:
    source = gradient()
    data = save(source, fmt, **params)
    decoded = decode_image(data)
    assert isinstance(decoded, DecodedImage)
    assert decoded.format == fmt
    assert decoded.rgb.shape == (16, 24, 3) and decoded.rgb.dtype == np.uint8
    assert (decoded.width, decoded.height) == (24, 16)
    assert decoded.alpha is None
    diff = np.abs(decoded.rgb.astype(int) - np.asarray(source).astype(int))
    assert diff.mean() <= tolerance / 3 and diff.max() <= tolerance * 3


def test_sha256_is_of_the_original_bytes() -> None:
    data = save(gradient(), "PNG")
    assert decode_image(data).sha256 == hashlib.sha256(data).hexdigest()


def test_exif_orientation_is_applied() -> None:
    im = Image.new("RGB", (40, 20), (255, 255, 255))
    im.paste((255, 0, 0), (0, 0, 10, 10))  # red block top-left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    decoded = decode_image(save(im, "JPEG", quality=95, exif=exif.tobytes()))
    assert (decoded.width, decoded.height) == (20, 40)
    # After a 90 degree clockwise turn the stored top-left lands top-right.
    assert decoded.rgb[3, 16, 0] > 200 and decoded.rgb[3, 16, 1] < 60
    assert decoded.rgb[3, 3, 1] > 200


def test_cmyk_without_profile_is_converted() -> None:
    im = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red ink mix
    for fmt in ("JPEG", "TIFF"):
        decoded = decode_image(save(im, fmt))
        assert decoded.source_mode == "CMYK"
        r, g, b = decoded.rgb[4, 4].tolist()
        assert r > 230 and g < 30 and b < 30


def test_cmyk_with_an_unusable_profile_falls_back_instead_of_failing() -> None:
    im = Image.new("CMYK", (8, 8), (0, 0, 0, 128))
    decoded = decode_image(save(im, "TIFF", icc_profile=b"not a real icc profile at all"))
    assert decoded.had_icc_profile
    assert 110 < int(decoded.rgb[0, 0, 0]) < 140


def test_embedded_icc_profile_is_converted_to_srgb() -> None:
    grey = Image.new("RGB", (8, 8), (128, 128, 128))
    plain = decode_image(save(grey, "PNG"))
    tagged = decode_image(save(grey, "PNG", icc_profile=linear_rgb_icc()))
    assert not plain.had_icc_profile and tagged.had_icc_profile
    assert int(plain.rgb[0, 0, 0]) == 128
    # 128 in a linear-light space is 0.502 linear = sRGB 188.
    assert 183 <= int(tagged.rgb[0, 0, 0]) <= 193
    assert np.ptp(tagged.rgb[0, 0].astype(int)) <= 2  # stays neutral


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    arr = np.full((6, 6), 40000, np.uint16)
    for fmt in ("PNG", "TIFF"):
        decoded = decode_image(save(Image.fromarray(arr), fmt))
        assert decoded.source_mode.startswith("I")
        assert abs(int(decoded.rgb[0, 0, 0]) - round(40000 / 257)) <= 1


def test_sixteen_bit_rgb_png_keeps_the_high_byte() -> None:
    w, h = 4, 2
    pixel = struct.pack(">HHH", 0xFF00, 0x8000, 0x0100)
    raw = b"".join(b"\x00" + pixel * w for _ in range(h))
    decoded = decode_image(png_bytes(w, h, 16, 2, raw))
    assert decoded.rgb[0, 0].tolist() == [255, 128, 1]


def test_palette_with_transparency_gives_alpha() -> None:
    im = Image.new("P", (8, 8), 0)
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    im.putpixel((0, 0), 1)
    decoded = decode_image(save(im, "PNG", transparency=0))
    assert decoded.alpha is not None
    assert decoded.alpha[0, 0] == 255 and decoded.alpha[0, 1] == 0
    assert decoded.rgb[0, 0].tolist() == [0, 255, 0]


def test_grey_alpha_and_rgba() -> None:
    la = decode_image(save(Image.new("LA", (4, 4), (100, 50)), "PNG"))
    assert la.rgb[0, 0].tolist() == [100, 100, 100]
    assert la.alpha is not None and int(la.alpha[0, 0]) == 50
    rgba = decode_image(save(Image.new("RGBA", (4, 4), (10, 20, 30, 40)), "PNG"))
    assert rgba.rgb[0, 0].tolist() == [10, 20, 30]
    assert rgba.alpha is not None and int(rgba.alpha[0, 0]) == 40
    assert rgba.rgba().shape == (4, 4, 4)


def test_fully_opaque_alpha_is_dropped() -> None:
    decoded = decode_image(save(Image.new("RGBA", (4, 4), (1, 2, 3, 255)), "PNG"))
    assert decoded.alpha is None
    assert decoded.rgba()[..., 3].min() == 255


# ------------------------------------------------------------------------------- errors


def test_empty_file_is_not_an_image() -> None:
    with pytest.raises(NotAnImageError, match="empty"):
        decode_image(b"")


def test_text_is_not_an_image() -> None:
    with pytest.raises(NotAnImageError, match="not an image"):
        decode_image(b"<html><body>404 not found</body></html>")


@pytest.mark.parametrize("fmt", ["GIF", "BMP"])
def test_other_image_formats_are_unsupported(fmt: str) -> None:
    with pytest.raises(UnsupportedFormatError, match=fmt):
        decode_image(save(gradient(), fmt))


def test_truncated_jpeg_body() -> None:
    data = save(gradient(200, 200), "JPEG", quality=90)
    with pytest.raises(TruncatedImageError, match="truncated"):
        decode_image(data[: len(data) // 2])


def test_truncated_header_of_a_known_format() -> None:
    data = save(gradient(), "PNG")
    with pytest.raises(TruncatedImageError):
        decode_image(data[:20])


def test_byte_limit() -> None:
    data = save(gradient(), "PNG")
    with pytest.raises(ImageTooLargeError, match="limit"):
        decode_image(data, max_bytes=len(data) - 1)
    assert decode_image(data, max_bytes=len(data)).width == 24


def test_pixel_limit_is_checked_from_the_header() -> None:
    with pytest.raises(DecompressionBombError, match="384"):
        decode_image(save(gradient(), "PNG"), max_pixels=383)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [10_000, 100_000])
def test_decompression_bomb_header_is_refused_before_decoding(side: int) -> None:
    # 100 MP (over our 80 MP default) and 10 GP (over Pillow's own hard limit): the header
    # declares it, the tiny IDAT could never fill it, and nothing is decoded.
    bomb = png_bytes(side, side, 8, 0, b"\x00" * 64)
    with pytest.raises(DecompressionBombError):
        decode_image(bomb)


# ----------------------------------------------------------------------------- encoders


def test_encode_png_roundtrips_rgba_and_masks() -> None:
    rgba = np.random.default_rng(0).integers(0, 256, (5, 7, 4), dtype=np.uint8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(rgba)))), rgba)
    mask = rgba[..., 3].copy()
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(mask)))), mask)


def test_encode_jpeg_is_high_quality_444() -> None:
    rgb = np.asarray(gradient(64, 64))
    data = encode_jpeg(rgb)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG"
        assert im.layer[0][1:3] == im.layer[1][1:3]  # same sampling factors: 4:4:4
        diff = np.abs(np.asarray(im).astype(int) - rgb.astype(int))
    assert diff.mean() < 2


def test_encoders_reject_bad_arrays() -> None:
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4, 3), np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="HxWx3"):
        encode_jpeg(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="quality"):
        encode_jpeg(np.zeros((4, 4, 3), np.uint8), quality=0)


def test_encode_jpeg_survives_pixels_too_noisy_for_an_optimised_buffer() -> None:
    # Pillow sizes libjpeg's buffer at width x height bytes for optimised/progressive JPEG;
    # 4:4:4 noise at quality 92 overflows it ("Suspension not allowed here").
    from plinth.imaging.decode import encode_jpeg

    noise = np.random.default_rng(0).integers(0, 256, (320, 320, 3), dtype=np.uint8)
    decoded = decode_image(encode_jpeg(noise))
    assert (decoded.width, decoded.height) == (320, 320)


def test_encode_jpeg_is_baseline_with_the_pixels_a_progressive_file_would_give() -> None:
    from plinth.imaging.decode import save_jpeg

    rng = np.random.default_rng(9)
    rgb = np.clip(rng.normal(150, 40, (96, 128, 3)), 0, 255).astype(np.uint8)
    data = encode_jpeg(rgb)
    with Image.open(io.BytesIO(data)) as im:
        assert not im.info.get("progressive") and not im.info.get("progression")
    progressive = save_jpeg(
        Image.fromarray(rgb), quality=92, subsampling="4:4:4", optimize=True, progressive=True
    )
    with Image.open(io.BytesIO(progressive)) as im:
        assert im.info.get("progressive") or im.info.get("progression")
    assert data != progressive
    assert np.array_equal(decode_image(data).rgb, decode_image(progressive).rgb)


def _cutout(w: int = 37, h: int = 23) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (h, w, 4), dtype=np.uint8)


def test_decode_rgba_reads_plinths_own_cutouts_without_pillow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import plinth.imaging.decode as decode_module

    rgba = _cutout()
    rgb = np.ascontiguousarray(rgba[..., :3])
    expected_rgb = decode_image(encode_png(rgb)).rgba()

    def no_pillow(*_args: object, **_kwargs: object) -> DecodedImage:
        raise AssertionError("the plain PNG should not reach decode_image")

    monkeypatch.setattr(decode_module, "decode_image", no_pillow)
    assert np.array_equal(decode_rgba(encode_png(rgba)), rgba)
    assert np.array_equal(decode_rgba(encode_png(rgb)), expected_rgb)
    assert np.all(decode_rgba(encode_png(rgb))[..., 3] == 255)


@pytest.mark.parametrize(
    "variant", ["icc", "exif", "palette", "grey_alpha", "sixteen_bit", "jpeg", "transparency_key"]
)
def test_decode_rgba_matches_decode_image_for_everything_else(variant: str) -> None:
    rgba = _cutout(40, 20)
    im = Image.fromarray(rgba, "RGBA")
    if variant == "icc":
        data = save(im, "PNG", icc_profile=linear_rgb_icc())
    elif variant == "exif":
        exif = Image.Exif()
        exif[0x0112] = 6
        data = save(im, "PNG", exif=exif.tobytes())
    elif variant == "palette":
        data = save(im.convert("P"), "PNG", transparency=3)
    elif variant == "grey_alpha":
        data = save(im.convert("LA"), "PNG")
    elif variant == "sixteen_bit":
        data = save(Image.fromarray(rgba[..., 0].astype(np.uint16) * 257), "PNG")
    elif variant == "jpeg":
        data = save(im.convert("RGB"), "JPEG", quality=90)
    else:
        data = save(im.convert("RGB"), "PNG", transparency=(1, 2, 3))
    expected = decode_image(data).rgba()
    assert np.array_equal(decode_rgba(data), expected)
    if variant == "exif":
        assert decode_rgba(data).shape[:2] == (40, 20)  # turned upright, as decode_image does


def test_decode_rgba_keeps_decode_images_errors() -> None:
    data = encode_png(_cutout(200, 200))
    with pytest.raises(TruncatedImageError):
        decode_rgba(data[: len(data) // 2])
    with pytest.raises(DecompressionBombError):
        decode_rgba(data, max_pixels=200 * 200 - 1)
    with pytest.raises(ImageTooLargeError):
        decode_rgba(data, max_bytes=len(data) - 1)
    with pytest.raises(NotAnImageError):
        decode_rgba(b"")
