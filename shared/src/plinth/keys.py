"""The S3 key layout, exactly as the original system used it, and validation of its parts.

A SKU or theme that could escape its prefix (``/``, ``..``, control characters) is refused with
:class:`InvalidKeyPart`, never silently escaped: an escaped key would not match what 3JMS or a
human operator expects to find in the bucket.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final, Literal

DerivativeSize = Literal["hero", "pdp", "thumb"]
DerivativeFormat = Literal["jpg", "webp", "avif"]

DERIVATIVE_SIZES: Final[tuple[DerivativeSize, ...]] = ("hero", "pdp", "thumb")
DERIVATIVE_FORMATS: Final[tuple[DerivativeFormat, ...]] = ("jpg", "webp", "avif")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_THEME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SKU_MAX = 128
# Limits are in bytes of UTF-8, not characters: 70 emoji are 70 characters but 280 bytes. The S3
# API caps a key at 1024 bytes, and S3 servers that store objects as files (versitygw's POSIX
# backend) refuse a path segment over 255 bytes (NAME_MAX) with a 400. Checked here, a SKU that
# cannot be stored is a 422 at the webhook instead of a job that can never be written.
SEGMENT_MAX_BYTES: Final = 255
KEY_MAX_BYTES: Final = 1024


class InvalidKeyPart(ValueError):
    """A SKU, theme, hash or index that cannot be part of an S3 key."""


def validate_sku(sku: str) -> str:
    if not sku or not sku.strip():
        raise InvalidKeyPart("SKU is empty")
    if len(sku) > _SKU_MAX:
        raise InvalidKeyPart(f"SKU is longer than {_SKU_MAX} characters")
    if sku != sku.strip():
        raise InvalidKeyPart(f"SKU {sku!r} has leading or trailing whitespace")
    if "/" in sku or "\\" in sku:
        raise InvalidKeyPart(f"SKU {sku!r} contains a path separator")
    if ".." in sku or sku in {"."}:
        raise InvalidKeyPart(f"SKU {sku!r} contains '..'")
    if any(unicodedata.category(ch).startswith("C") for ch in sku):
        raise InvalidKeyPart(f"SKU {sku!r} contains control or unassigned characters")
    size = len(sku.encode("utf-8"))  # no surrogates left: they are category Cs, refused above
    if size > SEGMENT_MAX_BYTES:
        raise InvalidKeyPart(
            f"SKU is {size} bytes of UTF-8; an S3 key segment holds at most {SEGMENT_MAX_BYTES}"
        )
    return sku


def validate_theme(theme: str) -> str:
    if not _THEME.match(theme):
        raise InvalidKeyPart(
            f"theme {theme!r} must be 1-64 chars of a-z, 0-9, '-', '_' starting with a letter/digit"
        )
    return theme


def validate_sha256(sha256: str) -> str:
    if not _SHA256.match(sha256):
        raise InvalidKeyPart(f"{sha256!r} is not a lowercase hex sha256")
    return sha256


def _checked(key: str) -> str:
    """Every key is built here, so no layout change can produce one the store refuses."""
    encoded = key.encode("utf-8")
    if len(encoded) > KEY_MAX_BYTES:
        raise InvalidKeyPart(f"key is {len(encoded)} bytes of UTF-8; S3 allows {KEY_MAX_BYTES}")
    longest = max(len(segment) for segment in encoded.split(b"/"))
    if longest > SEGMENT_MAX_BYTES:
        raise InvalidKeyPart(
            f"key has a {longest}-byte segment; S3 servers allow {SEGMENT_MAX_BYTES}"
        )
    return key


def _index(idx: int) -> int:
    if idx < 0:
        raise InvalidKeyPart(f"index {idx} is negative")
    return idx


def original_key(sku: str, sha256: str) -> str:
    return _checked(f"originals/{validate_sku(sku)}/{validate_sha256(sha256)}.jpg")


def _version(version: int) -> str:
    """The key suffix of a mask version: none for the first (the model's, stored where it always
    was, so older jobs' keys stay valid), ``.v<N>`` for each touch-up after it."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidKeyPart(f"mask version {version!r} must be an integer from 1")
    return "" if version == 1 else f".v{version}"


def cutout_key(sku: str, sha256: str, version: int = 1) -> str:
    """The cut-out made with mask ``version`` (1: the model's; see :func:`mask_key`)."""
    return _checked(
        f"cutouts/{validate_sku(sku)}/{validate_sha256(sha256)}{_version(version)}.png")


def mask_key(sku: str, sha256: str, version: int = 1) -> str:
    """Mask ``version`` of a photo: 1 is the segmentation's, 2 and on a person's touch-ups
    (``masks/<sku>/<sha>.v2.png``, ...). Versions are never overwritten."""
    return _checked(
        f"masks/{validate_sku(sku)}/{validate_sha256(sha256)}{_version(version)}.png")


def background_key(theme: str, sku: str, sha256: str, idx: int) -> str:
    return _checked(
        f"backgrounds/{validate_theme(theme)}/{validate_sku(sku)}/"
        f"{validate_sha256(sha256)}_{_index(idx)}.jpg"
    )


def composite_key(theme: str, sku: str, sha256: str, idx: int) -> str:
    return _checked(
        f"composites/{validate_theme(theme)}/{validate_sku(sku)}/"
        f"{validate_sha256(sha256)}_{_index(idx)}.jpg"
    )


def derivative_key(
    theme: str, sku: str, sha256: str, variant: int, size: DerivativeSize, ext: DerivativeFormat
) -> str:
    """``variant`` is the composite index the derivative was rendered from."""
    if size not in DERIVATIVE_SIZES:
        raise InvalidKeyPart(f"derivative size {size!r} is not one of {DERIVATIVE_SIZES}")
    if ext not in DERIVATIVE_FORMATS:
        raise InvalidKeyPart(f"derivative format {ext!r} is not one of {DERIVATIVE_FORMATS}")
    return _checked(
        f"derivatives/{validate_theme(theme)}/{validate_sku(sku)}/{validate_sha256(sha256)}/"
        f"{_index(variant)}_{size}.{ext}"
    )


def manifest_key(sku: str, sha256: str, theme: str) -> str:
    return _checked(
        f"manifests/{validate_sku(sku)}/{validate_sha256(sha256)}-{validate_theme(theme)}.json"
    )


CONTENT_TYPES: Final[dict[str, str]] = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
    "json": "application/json",
}


def content_type_for(key: str) -> str:
    """The Content-Type to store an object under, from its key's extension."""
    return CONTENT_TYPES.get(key.rsplit(".", 1)[-1], "application/octet-stream")
