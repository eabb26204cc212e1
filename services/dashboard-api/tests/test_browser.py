"""The web dashboard in Debian's Chromium (Playwright), against a live dashboard-api process on
the local stack with demo jobs and real images in S3. Screenshots go to ``out/screenshots/``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from plinth.adapters.mongo import Database
from plinth.adapters.s3 import BlobStore
from plinth.domain.states import JobStatus
from plinth_dashboard_api.demo import DemoJobs, seed_demo, seed_workers
from plinth_dashboard_api.settings import DashboardSettings
from plinth_testkit.browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.asyncio(loop_scope="session")]

REPO_ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO_ROOT / "out" / "screenshots"
UI_DIST = REPO_ROOT / "services" / "dashboard-api" / "ui" / "dist"
OPERATOR_KEY = "browser-operator-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(dashboard_settings: DashboardSettings, browser_jobs: DemoJobs) -> Iterator[str]:
    """A dashboard-api process serving the built UI, started after the jobs are seeded."""
    if not (UI_DIST / "index.html").is_file():
        pytest.fail("the web dashboard is not built: run services/dashboard-api/ui/setup.sh")
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run services/dashboard-api/ui/setup.sh")
    port = _free_port()
    env = {
        **os.environ,
        "PLINTH_MONGO_DB": dashboard_settings.mongo_db,
        "PLINTH_S3_BUCKET": dashboard_settings.s3_bucket,
        "PLINTH_KAFKA_CONSUMER_GROUP_PREFIX": dashboard_settings.kafka_consumer_group_prefix,
        "PLINTH_DASHBOARD_PORT": str(port),
        "PLINTH_DASHBOARD_API_KEYS": json.dumps({OPERATOR_KEY: "browser:operator"}),
        "PLINTH_DASHBOARD_UI_DIR": str(UI_DIST),
        # the job page links a trace only where a trace viewer is configured
        "PLINTH_DASHBOARD_TRACE_URL_TEMPLATE": str(dashboard_settings.dashboard_trace_url_template),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "plinth_dashboard_api.main"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            pytest.fail(f"dashboard-api exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            httpx.get(f"{url}/health", timeout=5)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("dashboard-api did not start within 60 s")
            time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
async def browser_jobs(
    dashboard_settings: DashboardSettings, stack_db: Database, seeded: DemoJobs, run_id: str
) -> DemoJobs:
    """A set of jobs of the browser tests' own (the API tests change the shared ones)."""
    await seed_workers(stack_db)  # fresh heartbeats, so the workers show as alive
    async with BlobStore.from_settings(dashboard_settings) as blobs:
        return await seed_demo(stack_db, blobs, prefix=f"B{run_id}")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


async def _signed_in_page(browser: Any, url: str, *, width: int = 1280, height: int = 900) -> Any:
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    page.set_default_timeout(30_000)
    await page.goto(url + "/")
    await page.fill("input[name=api-key]", OPERATOR_KEY)
    await page.click("button[type=submit]")
    await page.wait_for_selector("[data-testid=card-jobs-today]")
    return page


async def _shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def _images_loaded(page: Any) -> list[int]:
    return await page.eval_on_selector_all(  # type: ignore[no-any-return]
        "img[data-testid=asset-preview]", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)"
    )


async def test_key_is_asked_once_and_a_wrong_one_is_refused(browser: Any, live_server: str) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(live_server + "/jobs")
    await page.fill("input[name=api-key]", "not-a-key")
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=That API key is not valid.")
    await page.fill("input[name=api-key]", OPERATOR_KEY)
    await page.click("button[type=submit]")
    await page.wait_for_selector("[data-testid=jobs-table]")
    await page.reload()  # the key stays in localStorage
    await page.wait_for_selector("[data-testid=jobs-table]")
    await context.close()


async def test_every_page_renders_with_data_and_previews_load(
    browser: Any, live_server: str, browser_jobs: DemoJobs, run_id: str
) -> None:
    page = await _signed_in_page(browser, live_server)
    await page.wait_for_selector("[data-testid=recent-failures] li")
    await page.wait_for_selector("[data-testid=jobs-per-hour] rect")
    await page.wait_for_selector("[data-testid=system-info] >> text=kafka")
    await page.wait_for_function(
        "() => !document.querySelector('[data-testid=card-processor]').innerText.includes('…')"
    )
    jobs_today = await page.inner_text("[data-testid=card-jobs-today]")
    assert any(ch.isdigit() for ch in jobs_today)
    await _shot(page, "overview")

    await page.goto(f"{live_server}/jobs?sku=B{run_id}")
    await page.wait_for_selector("[data-testid=job-row]")
    assert await page.locator("[data-testid=job-row]").count() == len(browser_jobs.all)
    await _shot(page, "jobs")

    done = browser_jobs.done[0]
    await page.goto(f"{live_server}/jobs/{done.id}")
    await page.wait_for_selector("[data-testid=stepper]")
    await page.wait_for_selector("[data-testid=timing-bars]")
    expected_images = 3 + 2 + 2 + len(done.s3_derivative_keys)  # original, cutout, mask, ...
    await page.wait_for_function(
        """n => [...document.querySelectorAll('img[data-testid=asset-preview]')]
                 .filter(i => i.complete && i.naturalWidth > 0).length >= n""",
        arg=expected_images,
    )
    widths = await _images_loaded(page)
    assert len(widths) == expected_images and all(w > 0 for w in widths), widths
    assert await page.locator("[data-testid=asset]").count() == expected_images + 1  # + manifest
    trace_link = page.locator("a:text('Open in trace viewer')")
    assert done.trace_id is not None
    assert done.trace_id in (await trace_link.get_attribute("href") or "")
    await _shot(page, "job-detail")

    await page.goto(f"{live_server}/workers")
    await page.wait_for_selector("[data-testid=stage-segment] [data-testid=worker-row]")
    await _shot(page, "workers")

    await page.click("button[aria-label='Toggle dark mode']")
    await page.goto(f"{live_server}/")
    await page.wait_for_selector("[data-testid=jobs-per-hour] rect")
    assert "dark" in (await page.get_attribute("html", "class") or "")
    await _shot(page, "overview-dark")
    await page.context.close()

    phone = await _signed_in_page(browser, live_server, width=390, height=844)
    await phone.goto(f"{live_server}/jobs/{browser_jobs.failed[0].id}")
    await phone.wait_for_selector("[data-testid=job-error]")
    await _shot(phone, "job-detail-phone")
    await phone.context.close()


async def test_filters_narrow_the_table(
    browser: Any, live_server: str, browser_jobs: DemoJobs, run_id: str
) -> None:
    page = await _signed_in_page(browser, live_server)
    await page.goto(f"{live_server}/jobs")
    await page.wait_for_selector("[data-testid=job-row]")
    await page.fill("input[aria-label='SKU prefix']", f"B{run_id}")
    await page.press("input[aria-label='SKU prefix']", "Enter")
    await page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=job-row]').length === n",
        arg=len(browser_jobs.all),
    )
    await page.click("[data-testid=status-filter] button:text-is('FAILED')")
    failed = len(browser_jobs.failed)
    await page.wait_for_selector(f"[data-testid=jobs-total]:has-text('{failed} jobs')")
    badges = await page.locator(
        "[data-testid=job-row] [data-testid=status-badge]"
    ).all_inner_texts()
    assert badges == ["FAILED"] * failed
    await page.fill("input[aria-label='Theme']", "studio")
    await page.press("input[aria-label='Theme']", "Enter")
    studio_failed = sum(j.theme == "studio" for j in browser_jobs.failed)
    await page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=job-row]').length === n", arg=studio_failed
    )
    assert "status=FAILED" in page.url and "theme=studio" in page.url
    await _shot(page, "jobs-filtered")
    await page.context.close()


async def test_a_failed_job_is_retried_from_its_detail_page(
    browser: Any, live_server: str, browser_jobs: DemoJobs, stack_db: Database
) -> None:
    job = next(j for j in browser_jobs.failed if j.failed_from is JobStatus.COMPOSITED)
    page = await _signed_in_page(browser, live_server)
    await page.goto(f"{live_server}/jobs/{job.id}")
    await page.wait_for_selector("[data-testid=job-error]")
    await page.click("button:text-is('Retry')")
    dialog = page.locator("[role=dialog]")
    await dialog.wait_for()
    await dialog.locator("button:text-is('Retry job')").click()
    await page.wait_for_selector("h1 [data-testid=status-badge]:text-is('COMPOSITED')")
    assert await page.locator("[data-testid=job-error]").count() == 0
    stored = await stack_db.jobs.get(job.id)
    assert stored is not None and stored.status is JobStatus.COMPOSITED
    assert stored.retry_count == 1
    audit = await stack_db.audit.find_one({"job_id": job.id, "action": "job.retry"})
    assert audit is not None and audit["actor"] == "browser"
    await _shot(page, "job-detail-retried")
    await page.context.close()
