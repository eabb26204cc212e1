"""AI backgrounds (Freepik Mystic), run over HTTP against the fake Freepik server."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from plinth.imaging.errors import ProviderError, ThemeError
from plinth.vendors.freepik.backgrounds import (
    LIST_PRICE_USD,
    FreepikBackgroundGenerator,
    closest_aspect_ratio,
    cover_crop,
)
from plinth.vendors.freepik.client import FreepikClient
from plinth_testkit.fakes.freepik import FakeFreepik

KEY = "mystic-key"
PROMPT = "seamless pale grey paper studio backdrop, soft shadowless light"


@pytest.fixture
def fake() -> Iterator[FakeFreepik]:
    with FakeFreepik(api_key=KEY, mystic_polls_to_complete=3) as server:
        yield server


def generator(fake: FakeFreepik, **kwargs: object) -> FreepikBackgroundGenerator:
    client = FreepikClient(KEY, base_url=fake.url, sleep=lambda _s: None)
    options: dict[str, object] = {"poll_interval_s": 0.01, "max_poll_interval_s": 0.02}
    options.update(kwargs)
    return FreepikBackgroundGenerator(client=client, **options)  # type: ignore[arg-type]


def expected_gradient_colours(prompt: str) -> tuple[np.ndarray, np.ndarray]:
    digest = hashlib.sha256(prompt.encode()).digest()
    return np.frombuffer(digest[:3], np.uint8), np.frombuffer(digest[3:6], np.uint8)


def test_generates_an_image_of_exactly_the_requested_size(fake: FakeFreepik) -> None:
    result = generator(fake).generate(PROMPT, (300, 200))

    assert result.rgb.shape == (200, 300, 3) and result.rgb.dtype == np.uint8
    assert result.cost_usd == pytest.approx(LIST_PRICE_USD["2k"])
    assert result.meta["polls"] == 3
    assert result.meta["aspect_ratio"] == "standard_3_2"
    # The fake paints a vertical gradient between two colours derived from the prompt: the
    # downloaded, resized picture must show them at top and bottom (JPEG and resampling aside).
    top, bottom = expected_gradient_colours(PROMPT)
    assert np.abs(result.rgb[2, 150].astype(int) - top).max() <= 12
    assert np.abs(result.rgb[-3, 150].astype(int) - bottom).max() <= 12


def test_task_lifecycle_follows_the_contract(fake: FakeFreepik) -> None:
    generator(fake, resolution="4k", model="realism").generate(PROMPT, (100, 100), variant=0)

    (create,) = fake.calls("POST", "/v1/ai/mystic")
    assert create.headers["x-freepik-api-key"] == KEY
    assert create.headers["content-type"] == "application/json"
    body = json.loads(create.body)
    assert body == {
        "prompt": PROMPT,
        "resolution": "4k",
        "aspect_ratio": "square_1_1",
        "fixed_generation": True,
        "model": "realism",
    }
    polls = fake.calls("GET", "/v1/ai/mystic/")
    assert len(polls) == 3
    assert all(p.headers["x-freepik-api-key"] == KEY for p in polls)


def test_variants_change_the_prompt_deterministically(fake: FakeFreepik) -> None:
    gen = generator(fake)
    gen.generate(PROMPT, (64, 64), variant=1)
    gen.generate(PROMPT, (64, 64), variant=1)
    gen.generate(PROMPT, (64, 64), variant=2)
    prompts = [json.loads(c.body)["prompt"] for c in fake.calls("POST", "/v1/ai/mystic")]
    assert prompts[0] == prompts[1] != prompts[2]
    assert all(p.startswith(PROMPT + ", ") for p in prompts)


def test_failed_task_is_a_transient_provider_error(fake: FakeFreepik) -> None:
    fake.mystic_outcome = "FAILED"
    with pytest.raises(ProviderError, match="FAILED") as info:
        generator(fake).generate(PROMPT, (64, 64))
    assert not info.value.permanent


def test_task_that_never_completes_times_out(fake: FakeFreepik) -> None:
    fake.mystic_outcome = "NEVER"
    with pytest.raises(ProviderError, match=r"did not complete within 0\.3 s") as info:
        generator(fake, timeout_s=0.3).generate(PROMPT, (64, 64))
    assert not info.value.permanent
    assert len(fake.calls("GET", "/v1/ai/mystic/")) >= 3


def test_poll_interval_grows_and_respects_the_deadline(fake: FakeFreepik) -> None:
    fake.mystic_outcome = "NEVER"

    @dataclass
    class Clock:
        now: float = 0.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds

    gen = generator(
        fake,
        poll_interval_s=1.0,
        max_poll_interval_s=3.0,
        timeout_s=10.0,
        sleep=sleep,
        clock=clock,
    )
    with pytest.raises(ProviderError):
        gen.generate(PROMPT, (64, 64))
    assert waits[:4] == [1.0, 1.5, 2.25, 3.0]
    assert sum(waits) == pytest.approx(10.0)


def test_rate_limited_poll_is_retried(fake: FakeFreepik) -> None:
    fake.throttle = 1
    fake.retry_after = "0"
    result = generator(fake).generate(PROMPT, (32, 32))
    assert result.rgb.shape == (32, 32, 3)
    assert len(fake.calls("POST", "/v1/ai/mystic")) == 2


def test_wrong_key_is_permanent(fake: FakeFreepik) -> None:
    client = FreepikClient("nope", base_url=fake.url)
    with pytest.raises(ProviderError) as info:
        FreepikBackgroundGenerator(client=client).generate(PROMPT, (32, 32))
    assert info.value.permanent


def test_theme_prompt_is_used(fake: FakeFreepik) -> None:
    @dataclass
    class Theme:
        name: str = "paper"
        prompt: str = "warm paper sweep"

    generator(fake).generate_for_theme(Theme(), 0, (48, 32))
    (create,) = fake.calls("POST", "/v1/ai/mystic")
    assert json.loads(create.body)["prompt"] == "warm paper sweep"


@pytest.mark.parametrize(
    ("size", "prompt", "variant"),
    [((0, 10), PROMPT, 0), ((10, 20000), PROMPT, 0), ((10, 10), "  ", 0), ((10, 10), PROMPT, -1)],
)
def test_bad_requests_fail_before_calling_freepik(
    fake: FakeFreepik, size: tuple[int, int], prompt: str, variant: int
) -> None:
    with pytest.raises(ThemeError):
        generator(fake).generate(prompt, size, variant=variant)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1000, 1000), "square_1_1"),
        ((1920, 1080), "widescreen_16_9"),
        ((1080, 1920), "social_story_9_16"),
        ((2000, 1000), "horizontal_2_1"),
        ((1200, 1500), "social_post_4_5"),
        ((5000, 1000), "smartphone_horizontal_20_9"),
    ],
)
def test_closest_aspect_ratio(size: tuple[int, int], expected: str) -> None:
    assert closest_aspect_ratio(*size) == expected


def test_cover_crop_fills_and_centres() -> None:
    # A 200x100 image with a marked centre column: cropping to a square keeps the centre.
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, 95:105] = 255
    out = cover_crop(image, 50, 50)
    assert out.shape == (50, 50, 3)
    assert out[:, 24:26].min() > 200
    assert out[:, :10].max() == 0
