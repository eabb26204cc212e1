"""The segment step with the Freepik provider, against the stack's real S3 and the fake Freepik.

Freepik takes images by URL only: the fake downloads the presigned S3 URL it is handed from the
local S3 server, exactly as the real API would from AWS.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import pytest
from opentelemetry.trace import INVALID_SPAN
from PIL import Image
from pydantic import SecretStr

import plinth_segment.main as segment_main
from plinth.adapters.s3 import BlobStore
from plinth.domain.job import Job
from plinth.imaging.errors import ProviderError
from plinth.imaging.segment import SegmentProvider
from plinth.vendors.freepik.client import FreepikClient
from plinth.worker import StageContext
from plinth.worker.errors import classify
from plinth.worker.result import BlobReader
from plinth.worker.settings import WorkerSettings
from plinth_segment.main import UPLOAD_PREFIX, segment
from plinth_segment.settings import SegmentWorkerSettings
from plinth_testkit.fakes.freepik import FakeFreepik, RecordedRequest

pytestmark = pytest.mark.stack

REMOVE_BACKGROUND = "/v1/ai/beta/remove-background"
PRICE_USD = 0.02
BACKDROP = (236, 234, 230)
PRODUCT = (30, 60, 150)
EXIF_ORIENTATION = 0x0112


@pytest.fixture
def fake() -> Iterator[FakeFreepik]:
    with FakeFreepik(api_key="test-key") as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_providers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test's fake listens on its own port: build the provider anew, close it after."""
    providers: dict[tuple[object, ...], SegmentProvider] = {}
    monkeypatch.setattr(segment_main, "_providers", providers)
    yield
    for provider in providers.values():
        close = getattr(provider, "close", None)
        if callable(close):
            close()


def upright_photo(width: int = 160, height: int = 240) -> Image.Image:
    """A product in the top half of a plain backdrop, so a wrong rotation shows in the mask."""
    pixels = np.full((height, width, 3), BACKDROP, dtype=np.uint8)
    pixels[30:110, 40:120] = PRODUCT
    return Image.fromarray(pixels, "RGB")


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def exif_rotated_jpeg() -> bytes:
    """The upright photo stored sideways with EXIF orientation 6 ("rotate 90° CW to view")."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    stored = upright_photo().transpose(Image.Transpose.ROTATE_90)
    return encoded(stored, "JPEG", quality=95, exif=exif.tobytes())


async def stored_job(blobs: BlobStore, unique: str, data: bytes, ext: str) -> Job:
    sha = hashlib.sha256(data).hexdigest()
    key = f"originals/SKU-{unique}/{sha}.{ext}"
    await blobs.put(key, data)
    return Job(sku=f"SKU-{unique}", theme="default", image_url=f"https://x/a.{ext}",
               img_sha256=sha, s3_original_key=key)


def context(stack_settings: WorkerSettings, blobs: BlobReader, fake: FakeFreepik,
            api_key: str = "test-key") -> StageContext[SegmentWorkerSettings]:
    settings = SegmentWorkerSettings(**{
        **stack_settings.model_dump(),
        "segment_provider": "freepik",
        "freepik_api_key": SecretStr(api_key),
        "freepik_base_url": fake.url,
        "freepik_remove_bg_price_usd": PRICE_USD,
    })
    return StageContext(settings, blobs, INVALID_SPAN, "t")


class RecordingBlobs:
    """A blob store that remembers the keys written through it."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.put_keys: list[str] = []

    async def get(self, key: str) -> bytes:
        return await self.store.get(key)

    async def presign_get(self, key: str, ttl_s: int | None = None) -> str:
        return await self.store.presign_get(key, ttl_s)

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.put_keys.append(key)
        await self.store.put(key, data, content_type)


def image_url_sent(call: RecordedRequest) -> str:
    fields = parse_qs(call.body.decode("ascii"), strict_parsing=True)
    assert list(fields) == ["image_url"]
    (url,) = fields["image_url"]
    return url


def s3_key_of(url: str, settings: WorkerSettings) -> str:
    """The object key in a path-style presigned URL of the stack's S3 (``/bucket/key?sig``)."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == settings.s3_endpoint
    assert "X-Amz-Signature" in parse_qs(parts.query), "a presigned URL, not a public one"
    bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
    assert bucket == settings.s3_bucket
    return key


def alpha_of(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode == "L"
        return np.asarray(image)


def assert_product_is_opaque(alpha: np.ndarray) -> None:
    """Opaque on the product (top half, inset from its edges), clear on the backdrop."""
    assert alpha.shape == (240, 160)
    assert (alpha[36:104, 46:114] == 255).all(), "the product is kept"
    assert (alpha[130:, :] == 0).all(), "the backdrop below it is removed"
    assert (alpha[:, :30] == 0).all() and (alpha[:, 130:] == 0).all()


async def test_a_jpeg_original_is_sent_as_its_presigned_url(
    stack_settings: WorkerSettings, blobs: BlobStore, unique: str, fake: FakeFreepik
) -> None:
    data = encoded(upright_photo(), "JPEG", quality=95)
    job = await stored_job(blobs, unique, data, "jpg")
    ctx = context(stack_settings, blobs, fake)

    result = await segment(job, ctx)

    (call,) = fake.calls("POST", REMOVE_BACKGROUND)
    assert call.headers["x-freepik-api-key"] == "test-key"
    assert s3_key_of(image_url_sent(call), ctx.settings) == job.s3_original_key
    assert result.changes["s3_cutout_key"] == f"cutouts/{job.sku}/{job.img_sha256}.png"
    alpha = alpha_of(result.artefacts[result.changes["s3_mask_key"]])
    assert_product_is_opaque(alpha)
    with Image.open(io.BytesIO(result.artefacts[result.changes["s3_cutout_key"]])) as cutout:
        rgba = np.asarray(cutout.convert("RGBA"))
    assert np.array_equal(rgba[..., 3], alpha), "the mask is the cutout's alpha"
    inside = rgba[40:100, 50:110, :3].reshape(-1, 3).astype(int)
    assert np.abs(inside - PRODUCT).max() <= 8, "the product keeps its colour"
    assert result.cost_usd == {"segmentation": PRICE_USD}
    meta = result.changes["provider_metadata"]["segment"]
    assert meta["provider"] == "freepik" and meta["format"] == "JPEG"
    assert (meta["width"], meta["height"]) == (160, 240) and meta["resized"] is False


@pytest.mark.parametrize(("data", "ext", "fmt"), [
    (encoded(upright_photo(), "WEBP", lossless=True), "webp", "WEBP"),
    (exif_rotated_jpeg(), "jpg", "JPEG"),
], ids=["webp", "jpeg-exif-orientation-6"])
async def test_an_original_freepik_cannot_read_as_stored_is_uploaded_decoded(
    stack_settings: WorkerSettings, blobs: BlobStore, unique: str, fake: FakeFreepik,
    data: bytes, ext: str, fmt: str,
) -> None:
    job = await stored_job(blobs, unique, data, ext)
    ctx = context(stack_settings, blobs, fake)

    result = await segment(job, ctx)

    (call,) = fake.calls("POST", REMOVE_BACKGROUND)
    uploaded_key = s3_key_of(image_url_sent(call), ctx.settings)
    assert uploaded_key.startswith(UPLOAD_PREFIX) and uploaded_key != job.s3_original_key
    with Image.open(io.BytesIO(await blobs.get(uploaded_key))) as uploaded:
        assert (uploaded.format, uploaded.size) == ("PNG", (160, 240)), "decoded and upright"
    assert_product_is_opaque(alpha_of(result.artefacts[result.changes["s3_mask_key"]]))
    meta = result.changes["provider_metadata"]["segment"]
    assert (meta["format"], meta["width"], meta["height"]) == (fmt, 160, 240)
    assert result.cost_usd == {"segmentation": PRICE_USD}


async def test_a_rejected_api_key_is_a_permanent_failure(
    stack_settings: WorkerSettings, blobs: BlobStore, unique: str, fake: FakeFreepik
) -> None:
    job = await stored_job(blobs, unique, encoded(upright_photo(), "PNG"), "png")

    with pytest.raises(ProviderError) as caught:
        await segment(job, context(stack_settings, blobs, fake, api_key="wrong-key"))

    verdict = classify(caught.value)
    assert verdict.permanent and verdict.code == "provider_error"
    assert "401" in verdict.message
    assert len(fake.calls("POST", REMOVE_BACKGROUND)) == 1, "no retry can fix a bad key"


async def test_freepik_unavailable_on_every_attempt_is_transient(
    stack_settings: WorkerSettings, blobs: BlobStore, unique: str, fake: FakeFreepik,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(FreepikClient, "_backoff", lambda self, attempt: 0.0)
    fake.fail_next = 100
    job = await stored_job(blobs, unique, encoded(upright_photo(), "PNG"), "png")

    with pytest.raises(ProviderError) as caught:
        await segment(job, context(stack_settings, blobs, fake))

    verdict = classify(caught.value)
    assert not verdict.permanent and verdict.code == "provider_error"
    assert "503" in verdict.message
    assert len(fake.calls("POST", REMOVE_BACKGROUND)) == 4, "retried, then given back"


async def test_the_provider_name_is_read_in_any_case(
    stack_settings: WorkerSettings, blobs: BlobStore, unique: str, fake: FakeFreepik
) -> None:
    job = await stored_job(blobs, unique, encoded(upright_photo(), "PNG"), "png")
    ctx = context(stack_settings, blobs, fake)
    ctx.settings = ctx.settings.model_copy(update={"segment_provider": " Freepik"})

    result = await segment(job, ctx)

    assert result.attributes["provider"] == "freepik"
    assert len(fake.calls("POST", REMOVE_BACKGROUND)) == 1


async def test_uploads_go_through_the_blob_store_of_the_call(
    stack_settings: WorkerSettings, blobs: BlobStore, unique: str, fake: FakeFreepik
) -> None:
    """The provider is cached per process; its uploader must not outlive the store it uses."""
    job = await stored_job(blobs, unique, encoded(upright_photo(), "WEBP", lossless=True), "webp")
    first, second = RecordingBlobs(blobs), RecordingBlobs(blobs)

    for store in (first, second):
        await segment(job, context(stack_settings, store, fake))

    assert len(first.put_keys) == len(second.put_keys) == 1
    assert first.put_keys[0].startswith(UPLOAD_PREFIX)
