"""What the fake store holds: products, variants, media, staged uploads, served operations."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image, UnidentifiedImageError

MAX_IMAGE_PIXELS = 20_000_000
ACCEPTED_IMAGE_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP"})


@dataclass
class FakeProduct:
    id: str
    title: str
    handle: str
    media_ids: list[str] = field(default_factory=list)
    variant_ids: list[str] = field(default_factory=list)


@dataclass
class FakeVariant:
    id: str
    sku: str
    title: str
    product_id: str
    media_ids: list[str] = field(default_factory=list)
    """The variant's image: Shopify lets a variant show one media (a second is refused with
    PRODUCT_VARIANT_ALREADY_HAS_MEDIA), appended from the product's media."""


@dataclass
class FakeMedia:
    id: str
    product_id: str
    alt: str | None
    polls: int = 0
    final_status: str = "READY"
    errors: list[dict[str, str | None]] = field(default_factory=list)
    status: str = "UPLOADED"
    width: int | None = None
    height: int | None = None


@dataclass
class StagedTarget:
    key: str
    filename: str
    mime_type: str
    method: str
    signature: str
    data: bytes | None = None


@dataclass(frozen=True)
class ServedOperation:
    """One GraphQL request the fake answered (for tests and the demo)."""

    operation: str | None
    root_fields: tuple[str, ...]
    requested_cost: int
    throttled: bool
    errors: bool


def inspect_image(data: bytes) -> tuple[tuple[str, str] | None, int | None, int | None]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            fmt, (width, height) = image.format, image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return ("IMAGE_PROCESSING_FAILURE", "Image could not be processed"), None, None
    if fmt not in ACCEPTED_IMAGE_FORMATS:
        return ("UNSUPPORTED_IMAGE_FILE_TYPE", f"{fmt} images are not supported"), None, None
    if width * height > MAX_IMAGE_PIXELS:
        return ("INVALID_IMAGE_FILE_SIZE", "Image is larger than 20 megapixels"), width, height
    return None, width, height
