"""The freepik segment provider, run over HTTP against the fake Freepik server."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
import numpy as np
import pytest
from PIL import Image

from plinth.imaging.errors import ProviderError, SegmentationError
from plinth.vendors.freepik.client import FreepikClient
from plinth.vendors.freepik.segmenter import FreepikSegmenter
from plinth_testkit.fakes.freepik import FakeFreepik

KEY = "secret-test-key"


@pytest.fixture
def fake() -> Iterator[FakeFreepik]:
    with FakeFreepik(api_key=KEY) as server:
        yield server


def product_photo(height: int = 60, width: int = 80) -> np.ndarray:
    """A red box on white; the fake's threshold cuts it out exactly."""
    rgb = np.full((height, width, 3), 255, np.uint8)
    rgb[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = (200, 30, 30)
    return rgb


def box_mask(height: int = 60, width: int = 80) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 255
    return mask


def png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    return buffer.getvalue()


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def segmenter(
    fake: FakeFreepik,
    *,
    key: str = KEY,
    sleep: Sleeps | None = None,
    max_attempts: int = 4,
    **kwargs: object,
) -> FreepikSegmenter:
    client = FreepikClient(
        key, base_url=fake.url, sleep=sleep or Sleeps(), max_attempts=max_attempts
    )
    uploader = kwargs.pop("uploader", fake.host_blob)
    return FreepikSegmenter(client=client, uploader=uploader, **kwargs)  # type: ignore[arg-type]


def test_segment_returns_fakes_cutout_mask_and_cost(fake: FakeFreepik) -> None:
    rgb = product_photo()
    result = segmenter(fake, unit_price_usd=0.05).segment(rgb)

    assert result.provider == "freepik"
    assert result.cost_usd == pytest.approx(0.05)
    assert result.mask.shape == (60, 80) and result.mask.dtype == np.uint8
    np.testing.assert_array_equal(result.mask, box_mask())
    np.testing.assert_array_equal(result.cutout[..., 3], result.mask)
    inside = result.mask == 255
    np.testing.assert_array_equal(result.cutout[..., :3][inside], rgb[inside])
    assert result.cutout[..., :3][result.mask == 0].max() == 0, "transparent pixels are black"
    assert result.meta["resized"] is False


def test_request_follows_the_published_contract(fake: FakeFreepik) -> None:
    segmenter(fake).segment(product_photo())

    (call,) = fake.calls("POST", "/v1/ai/beta/remove-background")
    assert call.headers["x-freepik-api-key"] == KEY
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    fields = parse_qs(call.body.decode())
    assert list(fields) == ["image_url"]
    assert fields["image_url"][0].startswith(fake.url + "/_blobs/")
    downloads = fake.calls("GET", "/v1/ai/beta/images/download/")
    assert len(downloads) == 1 and downloads[0].path.endswith("/high.png")


def test_uploaded_bytes_are_a_lossless_png(fake: FakeFreepik) -> None:
    uploads: list[tuple[bytes, str]] = []

    def uploader(data: bytes, content_type: str) -> str:
        uploads.append((data, content_type))
        return fake.host_blob(data, content_type)

    rgb = product_photo()
    segmenter(fake, uploader=uploader).segment(rgb)
    ((data, content_type),) = uploads
    assert content_type == "image/png"
    np.testing.assert_array_equal(np.array(Image.open(io.BytesIO(data))), rgb)


def test_segment_url_resizes_the_result_to_the_requested_size(fake: FakeFreepik) -> None:
    url = fake.host_blob(png(product_photo(120, 160)), "image/png")
    result = segmenter(fake).segment_url(url, size=(80, 60))

    assert result.mask.shape == (60, 80)
    assert result.meta["resized"] is True and result.meta["result_size"] == [160, 120]
    # Interior of the box stays opaque, far background stays clear after resampling.
    assert result.mask[25:35, 30:50].min() == 255
    assert result.mask[:10].max() == 0


def test_preview_result_is_used_when_configured(fake: FakeFreepik) -> None:
    url = fake.host_blob(png(product_photo(600, 800)), "image/png")
    result = segmenter(fake, result="preview").segment_url(url)
    width, height = result.meta["result_size"]
    assert width * height <= 250_000
    assert fake.calls("GET", "/v1/ai/beta/images/download/")[0].path.endswith("/preview.png")


def test_wrong_key_is_a_permanent_error_without_retries(fake: FakeFreepik) -> None:
    with pytest.raises(ProviderError) as info:
        segmenter(fake, key="wrong").segment(product_photo())
    assert info.value.permanent
    assert "401" in info.value.message
    assert len(fake.calls("POST", "/v1/ai/beta/remove-background")) == 1


def test_missing_key_is_refused_before_any_request() -> None:
    with pytest.raises(ProviderError) as info:
        FreepikSegmenter(api_key="  ")
    assert info.value.permanent


def test_rate_limit_is_retried_honouring_retry_after(fake: FakeFreepik) -> None:
    fake.throttle = 2
    fake.retry_after = "0.25"
    sleeps = Sleeps()
    result = segmenter(fake, sleep=sleeps).segment(product_photo())

    np.testing.assert_array_equal(result.mask, box_mask())
    assert len(fake.calls("POST", "/v1/ai/beta/remove-background")) == 3
    assert sleeps.waits == [0.25, 0.25]


def test_rate_limit_without_retry_after_backs_off_exponentially(fake: FakeFreepik) -> None:
    fake.throttle = 3
    fake.retry_after = None
    sleeps = Sleeps()
    segmenter(fake, sleep=sleeps).segment(product_photo())
    # Equal jitter around base 0.5 s doubling: [0.25, 0.5], [0.5, 1], [1, 2].
    assert len(sleeps.waits) == 3
    for wait, ceiling in zip(sleeps.waits, (0.5, 1.0, 2.0), strict=True):
        assert ceiling / 2 <= wait <= ceiling


def test_persistent_rate_limit_gives_a_transient_error(fake: FakeFreepik) -> None:
    fake.throttle = 100
    fake.retry_after = "0"
    with pytest.raises(ProviderError) as info:
        segmenter(fake, max_attempts=3).segment(product_photo())
    assert not info.value.permanent
    assert "429" in info.value.message
    assert len(fake.calls("POST", "/v1/ai/beta/remove-background")) == 3


def test_a_long_retry_after_is_handed_back_to_the_queue(fake: FakeFreepik) -> None:
    fake.throttle = 1
    fake.retry_after = "120"
    sleeps = Sleeps()
    with pytest.raises(ProviderError) as info:
        segmenter(fake, sleep=sleeps).segment(product_photo())
    assert not info.value.permanent
    assert "120" in info.value.message
    assert sleeps.waits == []


def test_server_errors_are_retried(fake: FakeFreepik) -> None:
    fake.fail_next = 2
    sleeps = Sleeps()
    result = segmenter(fake, sleep=sleeps).segment(product_photo())
    np.testing.assert_array_equal(result.mask, box_mask())
    assert len(sleeps.waits) == 2


def test_validation_error_is_permanent(fake: FakeFreepik) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    url = fake.host_blob(gif.getvalue(), "image/gif")
    with pytest.raises(ProviderError) as info:
        segmenter(fake).segment_url(url)
    assert info.value.permanent
    assert "400" in info.value.message and "JPG or PNG" in info.value.message


def test_expired_result_is_a_transient_error(fake: FakeFreepik) -> None:
    fake.result_ttl_s = 0.0
    with pytest.raises(ProviderError) as info:
        segmenter(fake).segment(product_photo())
    assert not info.value.permanent


def test_no_uploader_means_a_clear_permanent_error(fake: FakeFreepik) -> None:
    provider = FreepikSegmenter(client=FreepikClient(KEY, base_url=fake.url))
    with pytest.raises(ProviderError) as info:
        provider.segment(product_photo())
    assert info.value.permanent and "uploader" in info.value.message
    assert fake.requests == []


def test_uploader_failure_is_transient(fake: FakeFreepik) -> None:
    def broken(data: bytes, content_type: str) -> str:
        raise ConnectionError("S3 is down")

    with pytest.raises(ProviderError) as info:
        segmenter(fake, uploader=broken).segment(product_photo())
    assert not info.value.permanent and "S3 is down" in info.value.message


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)],
)
def test_bad_input_array_is_a_segmentation_error(fake: FakeFreepik, bad: np.ndarray) -> None:
    with pytest.raises(SegmentationError):
        segmenter(fake).segment(bad)


def test_unreachable_api_is_transient_after_retries() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    client = FreepikClient(KEY, base_url=f"http://127.0.0.1:{port}", sleep=sleeps, max_attempts=2)
    with pytest.raises(ProviderError) as info:
        FreepikSegmenter(client=client).segment_url("http://example.invalid/a.png")
    assert not info.value.permanent
    assert len(sleeps.waits) == 1


# Edge cases of the vendor's answers, easier to stage with a scripted transport.


def scripted(responses: dict[str, httpx.Response], seen: list[httpx.Request]) -> FreepikClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses[str(request.url)]

    return FreepikClient(
        KEY, base_url="https://api.test", transport=httpx.MockTransport(handle), sleep=Sleeps()
    )


def test_key_is_never_sent_to_a_foreign_result_host() -> None:
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[2:8, 2:8] = (10, 20, 30, 255)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")
    seen: list[httpx.Request] = []
    answer = {"high_resolution": "https://cdn.test/r.png", "url": "https://cdn.test/r.png"}
    client = scripted(
        {
            "https://api.test/v1/ai/beta/remove-background": httpx.Response(200, json=answer),
            "https://cdn.test/r.png": httpx.Response(200, content=buffer.getvalue()),
        },
        seen,
    )
    result = FreepikSegmenter(client=client).segment_url("https://photos.test/a.png")
    assert result.mask[5, 5] == 255 and result.mask[0, 0] == 0
    assert seen[0].headers["x-freepik-api-key"] == KEY
    assert "x-freepik-api-key" not in seen[1].headers
    assert KEY not in repr(client)


def test_key_does_not_follow_a_redirect_to_another_host() -> None:
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[2:8, 2:8] = (10, 20, 30, 255)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")
    seen: list[httpx.Request] = []
    answer = {"high_resolution": "https://api.test/v1/ai/beta/images/download/1/high.png"}
    client = scripted(
        {
            "https://api.test/v1/ai/beta/remove-background": httpx.Response(200, json=answer),
            answer["high_resolution"]: httpx.Response(
                302, headers={"location": "https://cdn.test/1/high.png"}
            ),
            "https://cdn.test/1/high.png": httpx.Response(200, content=buffer.getvalue()),
        },
        seen,
    )
    result = FreepikSegmenter(client=client).segment_url("https://photos.test/a.png")
    assert result.mask[5, 5] == 255
    assert [str(r.url) for r in seen][1:] == [
        answer["high_resolution"],
        "https://cdn.test/1/high.png",
    ]
    assert seen[1].headers["x-freepik-api-key"] == KEY
    assert "x-freepik-api-key" not in seen[2].headers


def test_result_without_alpha_is_rejected() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10), "white").save(buffer, "JPEG")
    answer = {"high_resolution": "https://api.test/r.jpg"}
    client = scripted(
        {
            "https://api.test/v1/ai/beta/remove-background": httpx.Response(200, json=answer),
            "https://api.test/r.jpg": httpx.Response(200, content=buffer.getvalue()),
        },
        [],
    )
    with pytest.raises(ProviderError, match="no alpha"):
        FreepikSegmenter(client=client).segment_url("https://photos.test/a.png")


def test_answer_without_result_urls_is_rejected() -> None:
    client = scripted(
        {"https://api.test/v1/ai/beta/remove-background": httpx.Response(200, json={"x": 1})},
        [],
    )
    with pytest.raises(ProviderError, match="high_resolution"):
        FreepikSegmenter(client=client).segment_url("https://photos.test/a.png")


def test_result_of_another_shape_is_rejected() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (10, 40)).save(buffer, "PNG")
    answer = {"high_resolution": "https://api.test/r.png"}
    client = scripted(
        {
            "https://api.test/v1/ai/beta/remove-background": httpx.Response(200, json=answer),
            "https://api.test/r.png": httpx.Response(200, content=buffer.getvalue()),
        },
        [],
    )
    with pytest.raises(ProviderError, match="not the shape") as info:
        FreepikSegmenter(client=client).segment_url("https://photos.test/a.png", size=(40, 40))
    assert info.value.permanent
