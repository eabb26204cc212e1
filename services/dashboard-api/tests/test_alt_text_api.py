"""``PUT /api/jobs/{id}/alt-text`` (issue 20): validated, audited, stored on the job, and sent to
Shopify (``fileUpdate``, against the fake Shopify over HTTP) when the job is DONE and published."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from plinth.adapters.mongo import Database
from plinth.domain.job import Job, ShopifyResult
from plinth.domain.states import JobStatus
from plinth_dashboard_api.demo import DemoJobs
from plinth_testkit.fakes.shopify import DEFAULT_VERSION, FakeShopify

Client = AsyncTestClient  # type: ignore[type-arg]


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify() as server:
        yield server


@pytest.fixture
def shopify_env(fake: FakeShopify, monkeypatch: pytest.MonkeyPatch) -> FakeShopify:
    """The API's Shopify settings (read per edit from PLINTH_SHOPIFY_*) point at the fake."""
    monkeypatch.setenv("PLINTH_SHOPIFY_STORE_DOMAIN", "plinth-test.myshopify.com")
    monkeypatch.setenv("PLINTH_SHOPIFY_ACCESS_TOKEN", fake.access_token)
    monkeypatch.setenv("PLINTH_SHOPIFY_API_VERSION", DEFAULT_VERSION)
    monkeypatch.setenv("PLINTH_SHOPIFY_BASE_URL", fake.admin_base_url)
    return fake


@pytest.fixture
def no_shopify_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STORE_DOMAIN", "ACCESS_TOKEN", "BASE_URL"):
        monkeypatch.delenv(f"PLINTH_SHOPIFY_{name}", raising=False)


async def a_job(
    stack_db: Database,
    seeded: DemoJobs,
    *,
    status: JobStatus = JobStatus.DONE,
    media_ids: list[str] | None = None,
    sku: str | None = None,
) -> Job:
    """A copy of a seeded DONE job under a new SKU, published to ``media_ids`` if given."""
    sku = sku or f"ALT-{uuid.uuid4().hex[:8]}"
    shopify = (
        ShopifyResult(status="published", product_id="gid://shopify/Product/1", media_ids=media_ids)
        if media_ids is not None
        else None
    )
    job = seeded.done[0].model_copy(
        update={
            "id": uuid.uuid4().hex,
            "sku": sku,
            "img_sha256": uuid.uuid4().hex * 2,
            "status": status,
            "shopify": shopify,
            "alt_text": None,
        }
    )
    await stack_db.jobs.insert(job)
    return job


async def saved(client: Client, operator: dict[str, str], job: Job, text: str = "A mug"
                ) -> dict[str, Any]:
    """The answer to a good edit of ``job``'s alt text (200), as JSON."""
    response = await client.put(f"/api/jobs/{job.id}/alt-text", headers=operator,
                                json={"alt_text": text})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def published_media(fake: FakeShopify, job_sku: str, theme: str) -> str:
    fake.add_product("Blue Mug", [job_sku])
    return fake.add_ready_media(job_sku, alt=f"Blue Mug – x [plinth:{job_sku}/{theme}]").id


async def test_a_published_job_gets_the_new_alt_text_on_shopify_and_an_audit_entry(
    client: Client,
    operator: dict[str, str],
    seeded: DemoJobs,
    stack_db: Database,
    shopify_env: FakeShopify,
) -> None:
    sku = f"ALT-{uuid.uuid4().hex[:8]}"
    media_id = published_media(shopify_env, sku, seeded.done[0].theme)
    job = await a_job(stack_db, seeded, media_ids=[media_id], sku=sku)

    body = await saved(client, operator, job, "  Blue   mug, side ")
    alt = f"Blue mug, side [plinth:{sku}/{job.theme}]"
    assert body["shopify"] == {"status": "updated", "media_ids": [media_id], "alt": alt}
    assert body["job"]["alt_text"] == "Blue mug, side"
    assert [m.alt for m in shopify_env.media_for(sku)] == [alt]
    assert "PlinthUpdateFiles" in [s.operation for s in shopify_env.served]
    stored = await stack_db.jobs.get(job.id)
    assert stored is not None and stored.alt_text == "Blue mug, side"
    assert stored.provider_metadata["shopify"]["alt"] == alt
    entry = await stack_db.audit.find_one({"job_id": job.id, "action": "job.alt_text"})
    assert entry is not None and entry["actor"] == "tester" and entry["at"] is not None
    assert entry["details"] == {"alt_text": "Blue mug, side", "was": None, "shopify": "updated"}


async def test_bad_alt_text_is_a_422_naming_the_problem(
    client: Client, operator: dict[str, str], seeded: DemoJobs, stack_db: Database
) -> None:
    job = await a_job(stack_db, seeded)
    url = f"/api/jobs/{job.id}/alt-text"

    empty = await client.put(url, headers=operator, json={"alt_text": "   "})
    assert empty.status_code == 422 and "must not be empty" in empty.json()["detail"]

    missing = await client.put(url, headers=operator, json={"text": "x"})
    assert missing.status_code == 422 and "alt_text" in missing.json()["detail"]

    wrong_type = await client.put(url, headers=operator, json={"alt_text": 5})
    assert wrong_type.status_code == 422 and "string" in wrong_type.json()["detail"]

    long = await client.put(url, headers=operator, json={"alt_text": "x" * 512})
    assert long.status_code == 422
    detail = long.json()
    room = 512 - len(f"[plinth:{job.sku}/{job.theme}]") - 1
    assert f"at most {room} fit" in detail["detail"] and "512" in detail["detail"]
    assert detail["extra"] == {"max_length": room, "length": 512}

    fits = await client.put(url, headers=operator, json={"alt_text": "x" * room})
    assert fits.status_code == 200, fits.text

    stored = await stack_db.jobs.get(job.id)
    assert stored is not None and stored.alt_text == "x" * room
    assert await stack_db.audit.count_documents({"job_id": job.id}) == 1  # only the good one


async def test_viewers_may_not_edit_and_unknown_jobs_are_404(
    client: Client, viewer: dict[str, str], operator: dict[str, str]
) -> None:
    forbidden = await client.put("/api/jobs/x/alt-text", headers=viewer, json={"alt_text": "a"})
    assert forbidden.status_code == 403
    missing = await client.put("/api/jobs/nope/alt-text", headers=operator, json={"alt_text": "a"})
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


async def test_a_job_in_the_pipeline_is_a_409(
    client: Client, operator: dict[str, str], seeded: DemoJobs, stack_db: Database
) -> None:
    job = await a_job(stack_db, seeded, status=JobStatus.SHOPIFY_PUSH)
    response = await client.put(
        f"/api/jobs/{job.id}/alt-text", headers=operator, json={"alt_text": "a"}
    )
    assert response.status_code == 409
    assert "SHOPIFY_PUSH" in response.json()["detail"]
    stored = await stack_db.jobs.get(job.id)
    assert stored is not None and stored.alt_text is None


async def test_an_unpublished_job_keeps_the_text_for_its_next_publish(
    client: Client, operator: dict[str, str], seeded: DemoJobs, stack_db: Database
) -> None:
    job = await a_job(stack_db, seeded, status=JobStatus.FAILED)
    assert (await saved(client, operator, job))["shopify"]["status"] == "not_published"
    stored = await stack_db.jobs.get(job.id)
    assert stored is not None and stored.alt_text == "A mug"


async def test_without_shopify_settings_the_text_is_saved_for_the_next_publish(
    client: Client,
    operator: dict[str, str],
    seeded: DemoJobs,
    stack_db: Database,
    no_shopify_env: None,
) -> None:
    job = await a_job(stack_db, seeded, media_ids=["gid://shopify/MediaImage/1"])
    assert (await saved(client, operator, job))["shopify"]["status"] == "not_configured"


async def test_shopify_refusing_the_edit_is_reported_and_the_text_kept(
    client: Client,
    operator: dict[str, str],
    seeded: DemoJobs,
    stack_db: Database,
    shopify_env: FakeShopify,
) -> None:
    job = await a_job(stack_db, seeded, media_ids=["gid://shopify/MediaImage/424242"])
    shopify: dict[str, Any] = (await saved(client, operator, job))["shopify"]
    assert shopify["status"] == "failed" and shopify["code"] == "shopify_user_error"
    assert "FILE_DOES_NOT_EXIST" in shopify["detail"]
    stored = await stack_db.jobs.get(job.id)
    assert stored is not None and stored.alt_text == "A mug"
