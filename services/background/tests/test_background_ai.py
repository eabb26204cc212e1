"""The background step in ``ai`` mode, against the fake Freepik's Mystic task lifecycle."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from opentelemetry.trace import INVALID_SPAN
from PIL import Image
from pydantic import SecretStr

import plinth.vendors.freepik.backgrounds as ai
from plinth.domain.job import Job
from plinth.imaging.backgrounds import load_theme
from plinth.imaging.composite import DEFAULT_CANVAS
from plinth.imaging.errors import ProviderError
from plinth.worker import StageContext
from plinth.worker.errors import PermanentStageError, classify
from plinth_background.main import backgrounds, generator_for
from plinth_background.settings import BackgroundWorkerSettings
from plinth_testkit.fakes.freepik import FakeFreepik

SHA = "f" * 64
THEME = "warm_paper"
PRICE_USD = 0.07
MYSTIC = "/v1/ai/mystic"


class NoBlobs:
    async def get(self, key: str) -> bytes:
        raise AssertionError("the background step reads nothing")

    async def presign_get(self, key: str, ttl_s: int | None = None) -> str:
        raise AssertionError("the background step signs nothing")


class QuickPollingGenerator(ai.FreepikBackgroundGenerator):
    """The real generator, polling every few milliseconds instead of every 2 s and more."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, poll_interval_s=0.005, max_poll_interval_s=0.01, **kwargs)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFreepik]:
    monkeypatch.setattr(ai, "FreepikBackgroundGenerator", QuickPollingGenerator)
    with FakeFreepik(api_key="test-key", mystic_polls_to_complete=3) as server:
        yield server


def context(
    fake: FakeFreepik, *, api_key: str | None = "test-key"
) -> StageContext[BackgroundWorkerSettings]:
    settings = BackgroundWorkerSettings(
        background_mode="ai", background_variants=2, freepik_base_url=fake.url,
        freepik_api_key=None if api_key is None else SecretStr(api_key),
        freepik_mystic_price_usd=PRICE_USD,
    )
    return StageContext(settings, NoBlobs(), INVALID_SPAN, "t")


def job() -> Job:
    return Job(sku="SKU-AI", theme=THEME, image_url="https://x/a.jpg", img_sha256=SHA)


def prompt_colour(prompt: str) -> np.ndarray:
    """The top colour of the fake's gradient for ``prompt`` (the first 3 bytes of its hash)."""
    return np.frombuffer(hashlib.sha256(prompt.encode()).digest()[:3], dtype=np.uint8)


async def test_ai_backgrounds_come_from_mystic_at_the_canvas_size(fake: FakeFreepik) -> None:
    result = await backgrounds(job(), context(fake))

    keys = [f"backgrounds/{THEME}/SKU-AI/{SHA}_{i}.jpg" for i in (0, 1)]
    assert result.changes == {"s3_background_keys": keys}
    assert list(result.artefacts) == keys
    assert result.cost_usd == {"backgrounds": pytest.approx(2 * PRICE_USD)}
    assert result.attributes == {"provider": "ai", "variants": 2}

    created = fake.calls("POST", MYSTIC)
    assert len(created) == 2, "one Mystic task per variant"
    prompts = [json.loads(call.body)["prompt"] for call in created]
    theme_prompt = load_theme(THEME).prompt
    assert prompts[0] == theme_prompt and prompts[1].startswith(theme_prompt + ", ")
    assert len(fake.calls("GET", MYSTIC + "/")) == 2 * 3, "each task polled until COMPLETED"
    for key, prompt in zip(keys, prompts, strict=True):
        with Image.open(io.BytesIO(result.artefacts[key])) as image:
            assert (image.format, image.size) == ("JPEG", DEFAULT_CANVAS)
            top = np.asarray(image.convert("RGB"))[5, DEFAULT_CANVAS[0] // 2].astype(int)
        assert np.abs(top - prompt_colour(prompt)).max() <= 10, "Mystic's image, scaled up"


async def test_a_failed_mystic_task_is_a_clear_provider_error(fake: FakeFreepik) -> None:
    fake.mystic_outcome = "FAILED"

    with pytest.raises(ProviderError, match=r"Freepik Mystic task [0-9a-f-]+ FAILED") as caught:
        await backgrounds(job(), context(fake))

    verdict = classify(caught.value)
    assert verdict.code == "provider_error"
    assert not verdict.permanent, "Mystic gives no reason; a new task may succeed"
    assert len(fake.calls("POST", MYSTIC)) == 1, "the first failure stops the step"


async def test_ai_mode_without_an_api_key_fails_permanently(fake: FakeFreepik) -> None:
    with pytest.raises(PermanentStageError) as caught:
        await backgrounds(job(), context(fake, api_key=None))

    assert classify(caught.value).code == "provider_not_configured"
    assert fake.requests == []


def test_ai_backgrounds_are_generated_at_the_size_asked_for(fake: FakeFreepik) -> None:
    generate = generator_for(context(fake).settings)

    rgb, cost = generate(load_theme(THEME), 0, (300, 150))

    assert rgb.shape == (150, 300, 3) and cost == PRICE_USD
    (call,) = fake.calls("POST", MYSTIC)
    assert json.loads(call.body)["aspect_ratio"] == "horizontal_2_1", "300:150 is 2:1"
