"""The dashboard's issue-20 pages in Debian's Chromium (Playwright), against the real pipeline.

The fixture starts, once for the module: every service as its own process (the end-to-end
harness, ``tests/e2e/harness.py``) on the local stack with a photo server and a fake Shopify,
and a dashboard-api process serving the built UI (``services/dashboard-api/ui/dist``) on the same
database, bucket and topics. The review threshold is the default one
(``PLINTH_REVIEW_THRESHOLD`` unset: 0.5, ``plinth_derive.review.DEFAULT_REVIEW_THRESHOLD``; the
packaged themes set none), so what is held is what the segment provider the stack runs (``auto``:
the learned model when installed, else ``local``) is unsure of: the photo server has three clean
studio photos (``harness.sample_photos``) and one hard one drawn from code
(``plinth_testkit.photos.mug_on_gingham``, which ``make demo`` sends too: a red mug cut by the
frame on a red gingham tablecloth).

Chromium is Debian's (``/usr/bin/chromium``; ``make setup`` installs it): Playwright's own
browsers are never downloaded. Without it the tests are skipped, unless
``PLINTH_REQUIRE_STACK=1`` (``make test``, CI), where they fail.

Screenshots go to ``PLINTH_SCREENSHOTS_DIR`` when set (``scripts/screenshots`` sets it to
``docs/screenshots``), else to ``out/screenshots/browser``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_flows import OPERATOR_KEY, SECRET, VIEWER_KEY, Flows  # noqa: E402
from harness import (  # noqa: E402
    ServiceProcesses,
    sample_photos,
    wait_for_port,
    wait_for_workers,
)

from plinth.adapters.kafka import ensure_topics  # noqa: E402
from plinth.adapters.mongo import Database  # noqa: E402
from plinth.adapters.s3 import BlobStore  # noqa: E402
from plinth.worker.groups import pipeline_groups, start_groups_at_end  # noqa: E402
from plinth_testkit.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from plinth_testkit.fakes.shopify import FakeShopify  # noqa: E402
from plinth_testkit.http_server import LocalHttpServer  # noqa: E402
from plinth_testkit.photos import mug_on_gingham  # noqa: E402

UI_DIST = REPO / "services" / "dashboard-api" / "ui" / "dist"
SHOPIFY_TOKEN = "browser-shopify-token"
PHOTOS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _required() -> bool:
    return os.environ.get("PLINTH_REQUIRE_STACK") == "1"


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        message = "Debian's chromium is missing (/usr/bin/chromium): run `make setup`"
        if _required():
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def ui_dist() -> Path:
    """The built UI, rebuilt first where npm is at hand and its sources changed (setup.sh keeps
    a stamp of its inputs, so an unchanged build is not redone)."""
    if shutil.which("npm"):
        subprocess.run(
            [str(UI_DIST.parent / "setup.sh")], check=True, capture_output=True,
            env={**os.environ, "PLINTH_UI_SKIP_CHROMIUM": "1"}, timeout=600,
        )
    if not (UI_DIST / "index.html").is_file():
        pytest.fail("the web dashboard is not built: run services/dashboard-api/ui/setup.sh")
    return UI_DIST


def _start_dashboard(env: dict[str, str], port: int, log_dir: Path) -> subprocess.Popen[bytes]:
    log = open(log_dir / "dashboard-api.log", "ab")  # noqa: SIM115 - owned by the process
    process = subprocess.Popen(
        [sys.executable, "-m", "plinth_dashboard_api.main"],
        env={**env, "PLINTH_INSTANCE_ID": f"dashboard-{os.getpid()}"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            tail = (log_dir / "dashboard-api.log").read_text(errors="replace")[-3000:]
            pytest.fail(f"dashboard-api exited: {tail}")
        try:
            if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("dashboard-api was not ready within 90 s")
        time.sleep(0.5)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def flows(
    chromium_path: Path, ui_dist: Path, stack_settings: Any, test_namespace: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Flows]:
    run = uuid.uuid4().hex[:8]
    log_dir = tmp_path_factory.mktemp("browser-flows")
    db_name = test_namespace.database("browser")
    shopify = FakeShopify(access_token=SHOPIFY_TOKEN, auto_products=True).start()
    photos = LocalHttpServer().start()
    images = sample_photos(PHOTOS, first_seed=300)
    urls = [photos.image(f"/photos/b{i}.jpg", data) for i, data in enumerate(images)]
    hard = mug_on_gingham()
    hard_url = photos.image("/photos/hard-mug-on-gingham.jpg", hard.jpeg)
    ingest_port = _free_port()
    dashboard_port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLINTH_")},
        "PLINTH_MONGO_DB": db_name,
        "PLINTH_S3_BUCKET": stack_settings.s3_bucket,
        "PLINTH_KAFKA_CONSUMER_GROUP_PREFIX": test_namespace.group_prefix("browser"),
        "PLINTH_WORKER_CONTROL_SCOPE": run,
        "PLINTH_WEBHOOK_SECRET": SECRET,
        "PLINTH_DOWNLOAD_ALLOW_HOSTS": json.dumps(["127.0.0.1"]),
        "PLINTH_INGEST_PORT": str(ingest_port),
        "PLINTH_SHOPIFY_STORE_DOMAIN": "plinth-browser.myshopify.com",
        "PLINTH_SHOPIFY_ACCESS_TOKEN": SHOPIFY_TOKEN,
        "PLINTH_SHOPIFY_BASE_URL": shopify.admin_base_url,
        "PLINTH_BACKGROUND_VARIANTS": "1",
        "PLINTH_RETRY_BASE_DELAY_S": "0.5",
        "PLINTH_MAX_ATTEMPTS": "3",
        # ingest sees a theme made in the editor at once
        "PLINTH_THEMES_CACHE_TTL_S": "0",
        "PLINTH_DASHBOARD_PORT": str(dashboard_port),
        "PLINTH_DASHBOARD_API_KEYS": json.dumps({OPERATOR_KEY: "browser:operator",
                                                 VIEWER_KEY: "watcher:viewer"}),
        "PLINTH_DASHBOARD_UI_DIR": str(ui_dist),
        "PYTHONUNBUFFERED": "1",
    }
    settings = stack_settings.model_copy(update={
        "mongo_db": db_name,
        "kafka_consumer_group_prefix": env["PLINTH_KAFKA_CONSUMER_GROUP_PREFIX"],
    })
    await ensure_topics(settings)
    await start_groups_at_end(settings, pipeline_groups(settings))
    db = Database.from_settings(settings)
    await db.ensure_indexes()
    processes = ServiceProcesses(env=env, log_dir=log_dir)
    dashboard: subprocess.Popen[bytes] | None = None
    try:
        # the dashboard seeds the packaged themes the webhook accepts
        dashboard = _start_dashboard(env, dashboard_port, log_dir)
        processes.start("ingest")
        for service in ("segment", "background", "composite", "derive", "publish"):
            processes.start(service)
        await wait_for_port(ingest_port, processes)
        await wait_for_workers(db, {"download": 1, "segment": 1, "background": 1, "composite": 1,
                                    "derive": 1, "publish": 1}, processes=processes)
        async with BlobStore.from_settings(settings) as blobs:
            yield Flows(settings=settings, db=db, blobs=blobs, processes=processes, photos=photos,
                        photo_urls=urls, photo_bytes=images, hard=hard, hard_url=hard_url,
                        shopify=shopify,
                        ingest_url=f"http://127.0.0.1:{ingest_port}",
                        dashboard_url=f"http://127.0.0.1:{dashboard_port}", run=run)
    finally:
        names = list(processes.procs)
        processes.stop_all()
        if dashboard is not None:
            dashboard.terminate()
            try:
                dashboard.wait(20)
            except subprocess.TimeoutExpired:
                dashboard.kill()
        for name in [*names, "dashboard-api"]:
            print(f"----- {name} -----\n{processes.log_tail(name, 15)}")
        photos.stop()
        shopify.stop()
        await db.client.drop_database(db_name)
        await db.close()


@pytest.fixture(scope="module")
async def browser(
    chromium_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Any]:
    """Debian's Chromium with a fresh profile (Playwright's own browsers are never installed)."""
    from playwright.async_api import async_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(chromium_path), args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        yield context
        await context.close()
