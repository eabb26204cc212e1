"""The ``freepik`` segmentation provider: Freepik's background-removal API.

The contract (docs.freepik.com/api-reference/remove-background/post-beta-remove-background):

* ``POST https://api.freepik.com/v1/ai/beta/remove-background``, header ``x-freepik-api-key``.
* Body ``application/x-www-form-urlencoded`` with one field, ``image_url``: the API takes the
  image **by URL only** (JPG or PNG, up to 20 MB); there is no upload or base64 variant.
* Synchronous answer ``200 {"original": URL, "high_resolution": URL, "preview": URL, "url": URL}``:
  ``high_resolution`` (= ``url``) is the cutout PNG up to 25 MP, ``preview`` up to 0.25 MP,
  ``original`` a thumbnail of the input. The URLs expire after 5 minutes, so the result is
  downloaded at once.

Because the API pulls the image from a URL, a provider given pixels needs somewhere to put them:
``segment(rgb)`` encodes the photo and hands it to a configured :class:`ImageUploader`, which
returns a URL Freepik can fetch (the services give it a short-lived presigned S3 GET URL; the
fake server in :mod:`plinth_testkit.fakes.freepik` hosts blobs itself). Callers that already have a
fetchable URL of the original (the services do: it is in S3) call :meth:`segment_url` and skip
the re-upload, but only when that original is a JPG or PNG Freepik can read as is (no other
format, no EXIF rotation): Freepik sees the stored file, not the decoded, oriented pixels.
Either way the mask is the alpha channel of the returned PNG.
"""

from __future__ import annotations

import io
import time
from typing import Any, Literal, Protocol

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from plinth.imaging.errors import ProviderError, SegmentationError
from plinth.imaging.segment.base import RGB, RGBA, Segmentation
from plinth.imaging.segment.decontaminate import clear_transparent
from plinth.vendors.freepik.client import (
    DEFAULT_API_KEY_HEADER,
    DEFAULT_BASE_URL,
    FreepikClient,
)

REMOVE_BACKGROUND_PATH = "/v1/ai/beta/remove-background"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # Freepik's documented input limit
MAX_RESULT_PIXELS = 25_000_000 + 1_000_000  # 25 MP documented, with slack for rounding

ResultSize = Literal["high_resolution", "preview"]


class ImageUploader(Protocol):
    """Puts image bytes somewhere Freepik can GET them and returns that URL.

    The URL must stay valid for at least a minute (Freepik fetches it during the call) and need
    no credentials beyond what is in it, e.g. a presigned S3 GET URL. It is called on the
    thread running ``segment()``; an asyncio service running the provider in a worker thread
    can bridge to its loop with ``asyncio.run_coroutine_threadsafe``.
    """

    def __call__(self, data: bytes, content_type: str) -> str: ...


class FreepikSegmenter:
    """Cuts products out with Freepik's remove-background API."""

    name = "freepik"

    def __init__(
        self,
        api_key: str = "",
        *,
        uploader: ImageUploader | None = None,
        unit_price_usd: float = 0.0,
        result: ResultSize = "high_resolution",
        base_url: str = DEFAULT_BASE_URL,
        api_key_header: str = DEFAULT_API_KEY_HEADER,
        timeout_s: float = 60.0,
        max_attempts: int = 4,
        client: FreepikClient | None = None,
    ) -> None:
        """Configure the provider.

        ``unit_price_usd`` is what one successful call costs you: Freepik publishes no fixed
        price for this beta endpoint, so it comes from your plan (settings), not from here.
        ``client`` replaces the HTTP client (tests pass one with a fake transport or sleep).
        """
        if unit_price_usd < 0:
            raise ValueError("unit_price_usd must not be negative")
        self._client = client or FreepikClient(
            api_key,
            base_url=base_url,
            api_key_header=api_key_header,
            timeout_s=timeout_s,
            max_attempts=max_attempts,
        )
        self._uploader = uploader
        self._unit_price_usd = unit_price_usd
        self._result = result

    def close(self) -> None:
        self._client.close()

    def segment(self, rgb: RGB) -> Segmentation:
        """Upload ``rgb`` through the uploader, let Freepik cut it out, return it at input size."""
        _check_rgb(rgb)
        if self._uploader is None:
            raise ProviderError(
                "the freepik provider takes images by URL only; configure an uploader "
                "(e.g. presigned S3 URLs) or call segment_url() with a URL of the photo",
                permanent=True,
            )
        data, content_type = _encode_for_upload(rgb)
        try:
            image_url = self._uploader(data, content_type)
        except ProviderError:
            raise
        except Exception as exc:  # the uploader is the caller's code (S3, ...): keep the cause
            raise ProviderError(f"uploading the photo for Freepik failed: {exc}") from exc
        height, width = rgb.shape[:2]
        return self._remove_background(image_url, size=(width, height), source=rgb)

    def segment_url(self, image_url: str, *, size: tuple[int, int] | None = None) -> Segmentation:
        """Cut out the JPG/PNG at ``image_url``; resize the result to ``size`` (w, h) if given."""
        return self._remove_background(image_url, size=size, source=None)

    def _remove_background(
        self, image_url: str, *, size: tuple[int, int] | None, source: RGB | None
    ) -> Segmentation:
        started = time.perf_counter()
        answer = self._client.post_form(REMOVE_BACKGROUND_PATH, {"image_url": image_url})
        result_url = _result_url(answer, self._result)
        png = self._client.download(result_url)
        rgba = _decode_cutout(png)
        result_h, result_w = rgba.shape[:2]
        if size is not None and (result_w, result_h) != size:
            _check_same_aspect((result_w, result_h), size)
            rgba = _resize_rgba(rgba, size)
        if source is not None:
            # Where Freepik says fully opaque, the photo's own pixels are the truth (the result
            # PNG may have been resampled); edges keep Freepik's decontaminated colours.
            opaque = rgba[..., 3] == 255
            rgba[..., :3][opaque] = source[opaque]
        clear_transparent(rgba)
        mask = np.ascontiguousarray(rgba[..., 3])
        return Segmentation(
            cutout=rgba,
            mask=mask,
            provider=self.name,
            cost_usd=self._unit_price_usd,
            meta={
                "endpoint": REMOVE_BACKGROUND_PATH,
                "result": self._result,
                "result_size": [result_w, result_h],
                "resized": size is not None and (result_w, result_h) != size,
                "vendor_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )


def _check_rgb(rgb: Any) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3:
        raise SegmentationError("segment() needs an HxWx3 uint8 array")
    if rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise SegmentationError(f"segment() needs an HxWx3 uint8 array, got shape {rgb.shape}")


def _encode_for_upload(rgb: RGB) -> tuple[bytes, str]:
    """PNG (lossless) when it fits Freepik's 20 MB limit, else a high-quality JPEG."""
    image = Image.fromarray(rgb, "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    if buffer.tell() <= MAX_UPLOAD_BYTES:
        return buffer.getvalue(), "image/png"
    for quality in (95, 90, 85):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality, subsampling=0)
        if buffer.tell() <= MAX_UPLOAD_BYTES:
            return buffer.getvalue(), "image/jpeg"
    raise SegmentationError("the photo is too large to send to Freepik (over 20 MB as JPEG)")


def _result_url(answer: dict[str, Any], which: ResultSize) -> str:
    # ``url`` is documented as the direct download of the high-resolution image.
    candidates = [answer.get(which)] + ([answer.get("url")] if which == "high_resolution" else [])
    for value in candidates:
        if isinstance(value, str) and value:
            return value
    raise ProviderError(
        f"Freepik's remove-background answer has no {which!r} URL (keys: {sorted(answer)})"
    )


def _decode_cutout(data: bytes) -> RGBA:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_RESULT_PIXELS:
                raise ProviderError(
                    f"Freepik's result is {image.width}x{image.height}, above its 25 MP limit",
                    permanent=True,
                )
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            if not has_alpha:
                raise ProviderError(
                    f"Freepik's result is a {image.format} in mode {image.mode} with no alpha"
                )
            return np.array(image.convert("RGBA"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise ProviderError(f"Freepik's result is not a readable image: {exc}") from exc


def _check_same_aspect(result: tuple[int, int], wanted: tuple[int, int]) -> None:
    ratio_result = result[0] / result[1]
    ratio_wanted = wanted[0] / wanted[1]
    # A couple of pixels of rounding on a downscaled side is fine; a different shape is not.
    tolerance = 2.0 / min(result) + 2.0 / min(wanted)
    if abs(ratio_result / ratio_wanted - 1.0) > tolerance:
        # Typically an original whose EXIF orientation Freepik did not apply: the same URL
        # gives the same answer on every retry, so this is permanent.
        raise ProviderError(
            f"Freepik's result is {result[0]}x{result[1]}, not the shape of the "
            f"{wanted[0]}x{wanted[1]} photo sent (rotated by EXIF orientation?)",
            permanent=True,
        )


def _resize_rgba(rgba: RGBA, size: tuple[int, int]) -> RGBA:
    """Resample straight-alpha RGBA without dark fringes: work on premultiplied colour."""
    width, height = size
    shrinking = width * height < rgba.shape[0] * rgba.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    alpha = rgba[..., 3].astype(np.float32) / 255.0
    premultiplied = rgba[..., :3].astype(np.float32) * alpha[..., None]
    alpha_out = cv2.resize(alpha, (width, height), interpolation=interpolation)
    colour_out = cv2.resize(premultiplied, (width, height), interpolation=interpolation)
    safe = np.maximum(alpha_out, 1e-6)[..., None]
    out = np.empty((height, width, 4), dtype=np.uint8)
    out[..., :3] = np.clip(colour_out / safe + 0.5, 0, 255).astype(np.uint8)
    out[..., 3] = np.clip(alpha_out * 255.0 + 0.5, 0, 255).astype(np.uint8)
    out[..., :3][out[..., 3] == 0] = 0
    return out
