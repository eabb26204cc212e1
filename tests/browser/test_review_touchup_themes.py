"""Issue 20 in the browser: at the default review threshold a clean photo is published unheld
and a hard one is held in the review queue, touched up by brush strokes, approved, and reaches
DONE with the new mask in its manifest; a theme made in the editor, previewed, and used by a
webhook delivery."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import time
from typing import Any

import httpx
import numpy as np
import pytest
from browser_flows import OPERATOR_KEY, VIEWER_KEY, Flows, shot, signed_in_page
from hard_photo import brush_plan, iou
from harness import send_webhook, wait_for_jobs
from PIL import Image

from plinth.domain.job import Job
from plinth.domain.states import JobStatus
from plinth_derive.review import DEFAULT_REVIEW_THRESHOLD

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.e2e,
              pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(900)]

HELD = frozenset({JobStatus.IN_REVIEW, JobStatus.FAILED})
FINISHED = frozenset({JobStatus.DONE, JobStatus.FAILED})


def payload(flows: Flows, index: int, sku: str, themes: list[str]) -> dict[str, Any]:
    data = flows.photo_bytes[index]
    return {"sku": sku, "image_url": flows.photo_urls[index],
            "img_sha256": hashlib.sha256(data).hexdigest(), "themes": themes}


def hard_payload(flows: Flows, sku: str, themes: list[str]) -> dict[str, Any]:
    return {"sku": sku, "image_url": flows.hard_url,
            "img_sha256": hashlib.sha256(flows.hard.jpeg).hexdigest(), "themes": themes}


async def deliver(flows: Flows, body: dict[str, Any], timeout_s: float = 90) -> Job:
    """Send one delivery (one theme) and return its job once ingest has made it."""
    with httpx.Client(timeout=30) as client:
        reply = send_webhook(client, flows.ingest_url, flows.secret, body)
    assert reply.status_code in (200, 202), reply.text
    deadline = time.monotonic() + timeout_s
    while True:
        doc = await flows.db.jobs_collection.find_one(
            {"sku": body["sku"], "theme": body["themes"][0]})
        if doc is not None:
            return Job.from_document(doc)
        assert time.monotonic() < deadline, f"no job for {body['sku']}"
        await asyncio.sleep(0.5)


async def until_job(flows: Flows, job_id: str, check: Any, timeout_s: float = 420) -> Job:
    deadline = time.monotonic() + timeout_s
    while True:
        doc = await flows.db.jobs_collection.find_one({"_id": job_id})
        job = Job.from_document(doc) if doc else None
        if job is not None and check(job):
            return job
        if dead := flows.processes.dead():
            raise RuntimeError(f"services exited: {dead}")
        assert time.monotonic() < deadline, f"job {job_id} never got there: {job!r}"
        await asyncio.sleep(0.5)


async def mask_of(flows: Flows, key: str) -> Image.Image:
    return Image.open(io.BytesIO(await flows.blobs.get(key))).convert("L")


def mask_at(mask: Image.Image, natural: tuple[int, int], x: float, y: float) -> int:
    """The mask's value at original pixel (x, y) (the mask may be stored at another size)."""
    sx, sy = mask.width / natural[0], mask.height / natural[1]
    value = mask.getpixel((min(mask.width - 1, int(x * sx)), min(mask.height - 1, int(y * sy))))
    return int(value)  # type: ignore[arg-type]


async def test_a_hard_photo_is_held_touched_up_with_the_brush_approved_and_published(
    flows: Flows, browser: Any,
) -> None:
    """At the default threshold a clean studio photo goes straight to DONE, and a hard one (a
    mug cut by the frame on a busy tablecloth) is held; the brush fixes its cut-out, measured
    against the photo's ground truth, and once approved the new mask is in its manifest."""
    hard = flows.hard
    clean = await deliver(flows, payload(flows, 0, f"BR-{flows.run}-C", ["default"]))
    job = await deliver(flows, hard_payload(flows, f"BR-{flows.run}-A", ["default"]))
    other = await deliver(flows, hard_payload(flows, f"BR-{flows.run}-B", ["warm_paper"]))
    settled = await wait_for_jobs(flows.db, [clean.id, job.id, other.id], timeout_s=420,
                                  statuses=HELD | FINISHED, processes=flows.processes)
    clean, job, other = settled[clean.id], settled[job.id], settled[other.id]

    # the clean photo: confident, never held, published
    assert clean.status is JobStatus.DONE, (clean.status, clean.error_code, clean.error_message)
    assert clean.review is None
    assert JobStatus.IN_REVIEW not in {t.to_status for t in clean.history}, clean.history
    assert clean.segment_confidence is not None
    assert clean.segment_confidence >= DEFAULT_REVIEW_THRESHOLD, clean.provider_metadata

    # the hard photo: whichever provider the stack runs (learned when installed, else local),
    # its cut-out's confidence is under the default threshold, so both deliveries are held
    provider = job.provider_metadata.get("segment", {}).get("provider")
    assert provider in ("learned", "local"), job.provider_metadata
    for held_job in (job, other):
        assert held_job.status is JobStatus.IN_REVIEW, (
            held_job.status, held_job.error_code, held_job.error_message)
        assert held_job.review is not None and held_job.review.decision is None
        assert held_job.review.threshold == DEFAULT_REVIEW_THRESHOLD
        assert held_job.review.confidence is not None, held_job.provider_metadata
        assert held_job.review.confidence < DEFAULT_REVIEW_THRESHOLD, (
            provider, held_job.provider_metadata.get("segment"))
    assert [v.version for v in job.mask_versions] == [1]
    first_mask_key = job.s3_mask_key
    assert first_mask_key is not None

    page = await signed_in_page(browser, flows.dashboard_url)
    await page.goto(f"{flows.dashboard_url}/review")
    row = page.locator(f"[data-testid=review-row][data-job-id='{job.id}']")
    await row.wait_for()
    # the clean job is not in the queue
    assert await page.locator(f"[data-testid=review-row][data-job-id='{clean.id}']").count() == 0
    await row.click()
    current = page.locator(f"[data-testid=review-current][data-job-id='{job.id}']")
    await current.wait_for()
    assert "%" in await current.locator("[data-testid=review-confidence]").inner_text()
    assert await current.locator("[data-testid=review-threshold]").inner_text() == "50%"
    assert (await current.locator("[data-testid=review-reason]").inner_text()).strip()
    assert int(await page.locator("[data-testid=review-badge]").inner_text()) >= 2
    # least confident first
    shown = [float(t.rstrip("%")) for t in await page.locator(
        "[data-testid=review-row-confidence]").all_inner_texts() if t.endswith("%")]
    assert shown == sorted(shown), shown
    assert "approve" in await page.locator("[data-testid=shortcuts]").inner_text()
    await page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid=review-current] img')]
                 .filter(i => i.complete && i.naturalWidth > 0).length >= 3""")
    await shot(page, "review-queue")

    # the touch-up page, from the queue
    await current.locator("[data-testid=touch-up-link]").click()
    canvas = page.locator("[data-testid=touch-up-canvas]")
    await canvas.wait_for()
    natural = (int(await canvas.get_attribute("data-natural-width") or 0),
               int(await canvas.get_attribute("data-natural-height") or 0))
    assert natural == hard.size, (natural, hard.size)
    await page.wait_for_selector("[data-testid=mask-overlay]")
    box = await canvas.bounding_box()
    assert box is not None
    # shown at another size than the original's: the strokes are still sent in its pixels
    assert abs(box["width"] - natural[0]) > 2, (box, natural)
    old_mask = await mask_of(flows, first_mask_key)
    old_iou = iou(np.asarray(old_mask), hard.truth)
    # the held cut-out is wrong: tablecloth kept as product, or the mug left half transparent
    assert old_iou < 0.9, (provider, old_iou)

    def on_screen(x: float, y: float) -> tuple[float, float]:
        return box["x"] + x / natural[0] * box["width"], box["y"] + y / natural[1] * box["height"]

    async def drag(points: list[tuple[float, float]]) -> None:
        await page.mouse.move(*on_screen(*points[0]))
        await page.mouse.down()
        for point in points[1:]:
            await page.mouse.move(*on_screen(*point), steps=6)
        await page.mouse.up()

    size = round(max(natural) * 0.1)
    slider = page.locator("input[aria-label='Brush size']")
    # remove the tablecloth, add the mug's body: rows with a big brush, then the outline traced
    # with a smaller one, each clear of the truth's other side (hard_photo.brush_plan)
    plan = brush_plan(hard, size)
    assert {mode for mode, _, _ in plan} == {"add", "remove"}
    mode_shown, size_shown = "", 0
    for mode, stroke_size, points in plan:
        if mode != mode_shown:
            await page.click(f"[role=radio]:text-is('Brush: {mode}')")
            mode_shown = mode
        if round(stroke_size) != size_shown:
            size_shown = round(stroke_size)
            await slider.fill(str(size_shown))
            assert await page.locator("[data-testid=brush-size]").inner_text() == (
                f"{size_shown} px")
        await drag(points)
    edits = len(plan)
    assert await page.locator("[data-testid=edit-count]").inner_text() == f"{edits} edits"
    # a stray stroke across the wall, undone
    await page.click("[role=radio]:text-is('Brush: add')")
    await drag([(natural[0] * 0.05, natural[1] * 0.1), (natural[0] * 0.3, natural[1] * 0.1)])
    assert await page.locator("[data-testid=edit-count]").inner_text() == f"{edits + 1} edits"
    await page.click("button[aria-label=Undo]")
    assert await page.locator("[data-testid=edit-count]").inner_text() == f"{edits} edits"
    await page.click("button[aria-label=Redo]")
    await page.keyboard.press("Control+z")
    assert await page.locator("[data-testid=edit-count]").inner_text() == f"{edits} edits"

    preview_loaded = ("() => { const i = document.querySelector('[data-testid=preview-image]');"
                      " return i && i.complete && i.naturalWidth > 0; }")
    # a guided re-cut first: a keep point on the mug, GrabCut; previewed, then undone
    keep = ((hard.body[0] + hard.body[2]) / 2, (hard.body[1] + natural[1]) / 2)
    await page.click("[role=radio]:text-is('Point: keep')")
    await page.mouse.click(*on_screen(*keep))
    await page.select_option("select[aria-label=Method]", "grabcut")
    async with page.expect_request(lambda r: r.url.endswith("/touch-up/preview")) as asked:
        await page.click("[data-testid=preview-button]")
    guided = json.loads((await asked.value).post_data or "{}")
    assert guided["method"] == "grabcut" and len(guided["points"]) == 1
    assert guided["points"][0]["positive"] is True
    assert abs(guided["points"][0]["y"] - keep[1]) <= 2
    await page.wait_for_function(preview_loaded)
    await page.click("button[aria-label=Undo]")
    await page.select_option("select[aria-label=Method]", "paint")
    await page.click("[role=radio]:text-is('Brush: add')")

    async with page.expect_response(lambda r: r.url.endswith("/touch-up/preview")) as answer:
        await page.click("[data-testid=preview-button]")
    assert (await answer.value).status == 200
    await page.wait_for_selector("[data-testid=preview-button]:text-is('Preview')")
    await page.wait_for_function(preview_loaded)
    await shot(page, "touch-up")

    async with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith(f"/api/jobs/{job.id}/touch-up")
    ) as sent:
        await page.click("[data-testid=save-button]")
    body = json.loads((await sent.value).post_data or "{}")
    assert body["base_version"] == 1 and body["method"] == "paint" and body["points"] == []
    assert [s["mode"] for s in body["strokes"]] == [mode for mode, _, _ in plan]
    assert [s["size"] for s in body["strokes"]] == [round(size) for _, size, _ in plan]
    # the strokes are in the original's pixels, whatever the size the page showed it at
    for sent_stroke, (_, _, points) in zip(body["strokes"], plan, strict=True):
        for at in (0, -1):
            assert abs(sent_stroke["points"][at][0] - points[at][0]) <= 2, (sent_stroke, points)
            assert abs(sent_stroke["points"][at][1] - points[at][1]) <= 2, (sent_stroke, points)
    await page.wait_for_selector("[data-testid=touched-up]")
    assert page.url.endswith(f"/jobs/{job.id}")

    # the pipeline runs again from the cut-out; the touched-up job is held again for approval
    job = await until_job(flows, job.id, lambda j: len(j.mask_versions) == 2
                          and j.status in HELD, timeout_s=420)
    assert job.status is JobStatus.IN_REVIEW, (job.status, job.error_code, job.error_message)
    touched = job.mask_versions[1]
    assert touched.source == "touch-up" and touched.created_by == "browser"
    assert job.s3_mask_key == job.mask_versions[1].s3_mask_key != first_mask_key
    assert any("touch-up" in (t.note or "") for t in job.history)
    new_mask = await mask_of(flows, job.s3_mask_key)
    # every stroke's path is now right, and the cut-out is much nearer the truth
    for mode, _, points in plan:
        for point in points:
            value = mask_at(new_mask, natural, *point)
            assert (value > 128) if mode == "add" else (value < 128), (mode, point, value)
    new_iou = iou(np.asarray(new_mask), hard.truth)
    assert new_iou >= old_iou + 0.15 and new_iou > 0.85, (provider, old_iou, new_iou)

    await page.reload()
    await page.wait_for_selector("[data-testid=mask-version][data-version='2']")
    assert await page.locator("[data-testid=mask-version]").count() == 2
    assert "touch-up by browser" in await page.locator("[data-testid=timeline]").inner_text()

    # approve it from the queue with the keyboard
    await page.goto(f"{flows.dashboard_url}/review")
    row = page.locator(f"[data-testid=review-row][data-job-id='{job.id}']")
    await row.wait_for()
    await row.click()
    await page.locator(f"[data-testid=review-current][data-job-id='{job.id}']").wait_for()
    approved = f"/api/jobs/{job.id}/approve"
    async with page.expect_response(lambda r: r.url.endswith(approved)) as answer:
        await page.keyboard.press("a")
    assert (await answer.value).status == 200
    await row.wait_for(state="detached")

    # the other held job: selected and approved in bulk
    other_row = page.locator(f"[data-testid=review-row][data-job-id='{other.id}']")
    await other_row.locator("input[type=checkbox]").check()
    await page.wait_for_selector("[data-testid=bulk-approve]:has-text('(1)')")
    async with page.expect_response(lambda r: r.url.endswith("/api/review/approve")) as answer:
        await page.click("[data-testid=bulk-approve]")
    results = (await (await answer.value).json())["results"]
    assert results == [{"job_id": other.id, "ok": True}] or (
        [(r["job_id"], r["ok"]) for r in results] == [(other.id, True)])
    await other_row.wait_for(state="detached")
    await page.wait_for_selector("[data-testid=review-empty]")

    done = await until_job(flows, job.id, lambda j: j.status in FINISHED, timeout_s=300)
    assert done.status is JobStatus.DONE, (done.error_code, done.error_message)
    assert done.review is not None and done.review.decision == "approved"
    assert done.review.decided_by == "browser"
    assert done.manifest_s3_key is not None
    manifest = json.loads(await flows.blobs.get(done.manifest_s3_key))
    assert manifest["assets"]["mask"]["key"] == done.mask_versions[1].s3_mask_key
    assert manifest["assets"]["cutout"]["key"] == done.mask_versions[1].s3_cutout_key
    audit = await flows.db.audit.find({"job_id": job.id}).to_list()
    actors = {a["action"]: a["actor"] for a in audit}
    assert actors.items() >= {("job.approve", "browser"), ("job.touch_up", "browser")}, actors

    # the job page: the decision in the audit trail, and the alt text edited by hand
    await page.goto(f"{flows.dashboard_url}/jobs/{job.id}")
    trail = page.locator("[data-testid=job-audit]")
    await trail.wait_for()
    assert "job.approve by browser" in await trail.inner_text()
    await page.wait_for_selector("[data-testid=mask-version][data-version='2'] img")
    await page.locator("[data-testid=mask-versions]").scroll_into_view_if_needed()
    await shot(page, "job-page-mask-versions")
    assert "approved by browser" in await page.locator("[data-testid=review-decision]").inner_text()
    alt = f"Teal mug, studio ({flows.run})"
    await page.fill("input[name=alt-text]", alt)
    async with page.expect_response(lambda r: r.url.endswith(f"/api/jobs/{job.id}/alt-text")
                                    ) as answer:
        await page.click("[data-testid=save-alt-text]")
    assert (await answer.value).status == 200, await (await answer.value).text()
    edited = await until_job(flows, job.id, lambda j: j.alt_text == alt, timeout_s=30)
    assert edited.status is JobStatus.DONE
    await page.close()


async def test_a_theme_made_in_the_editor_is_previewed_and_used_by_a_delivery(
    flows: Flows, browser: Any,
) -> None:
    name = f"browser_{flows.run}"
    page = await signed_in_page(browser, flows.dashboard_url)
    await page.goto(f"{flows.dashboard_url}/themes")
    await page.wait_for_selector("[data-testid=theme-row][data-theme-name=default]")
    await page.click("[data-testid=new-theme]")
    await page.wait_for_selector("[data-testid=theme-form]")

    # a bad value is refused by the API, next to the field it names
    await page.select_option("select[name=background-kind]", "sweep")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=title]", "Browser sage")
    await page.fill("input[name=variants]", "2")
    await page.fill("input[name='background.wall_top']", "#cfe3d4")
    await page.fill("input[name='background.floor_near']", "#9dbba5")
    # a JSON edit: the floor line above the horizon does not validate
    text = json.loads(await page.input_value("textarea[name=theme-json]"))
    text["background"]["floor_line"] = 0.3
    await page.fill("textarea[name=theme-json]", json.dumps(text, indent=2))
    await page.wait_for_selector("[data-field=background] [role=alert]:has-text('floor_line')")
    text["background"]["floor_line"] = 0.86
    await page.fill("textarea[name=theme-json]", json.dumps(text, indent=2))
    await page.fill("input[name=review_threshold]", "0")
    await page.wait_for_selector("[data-field=background] [role=alert]", state="detached")

    # the live preview: one image per variant, from the API's renderer
    await page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid=theme-preview-variant]')]
                 .filter(i => i.complete && i.naturalWidth > 0).length === 2""")
    src = await page.locator("[data-testid=theme-preview-variant]").first.get_attribute("src")
    assert src and src.startswith("data:image/jpeg;base64,")
    await page.evaluate("window.scrollTo(0, 0)")
    await shot(page, "theme-editor")

    async with page.expect_response(lambda r: r.url.endswith("/api/themes")
                                    and r.request.method == "POST") as answer:
        await page.click("[data-testid=save-theme]")
    assert (await answer.value).status == 201
    await page.wait_for_url(f"**/themes/{name}")
    await page.wait_for_selector("[data-testid=theme-versions] li")

    stored = await flows.db.db["themes"].find_one({"_id": name})
    assert stored is not None and stored["version"] == 1 and stored["status"] == "active"

    # a delivery asks for it; it is never held (review_threshold 0) and reaches DONE
    sku = f"BR-{flows.run}-T"
    job = await deliver(flows, payload(flows, 1, sku, [name]))
    assert job.theme == name and job.theme_version == 1
    done = await wait_for_jobs(flows.db, [job.id], timeout_s=420, statuses=FINISHED,
                               processes=flows.processes)
    finished = done[job.id]
    assert finished.status is JobStatus.DONE, (finished.error_code, finished.error_message)
    assert finished.review is None, "a theme with review_threshold 0 holds nothing"
    await check_background(flows, finished, name)

    # edit (a new version), duplicate, archive and restore from the pages
    await page.goto(f"{flows.dashboard_url}/themes/{name}")
    await page.fill("input[name=description]", "edited in the browser")
    async with page.expect_response(lambda r: r.url.endswith(f"/api/themes/{name}")
                                    and r.request.method == "PUT") as answer:
        await page.click("[data-testid=save-theme]")
    assert (await answer.value).status == 200
    await page.wait_for_selector("[data-testid=saved]:has-text('v2')")
    await page.click("button:text-is('Duplicate')")
    copy = f"{name}_copy"
    await page.fill("input[name=duplicate-name]", copy)
    await page.click("[role=dialog] button[type=submit]")
    await page.wait_for_url(f"**/themes/{copy}")
    await page.goto(f"{flows.dashboard_url}/themes")
    row = page.locator(f"[data-testid=theme-row][data-theme-name={copy}]")
    await row.locator("button:text-is('Archive')").click()
    await row.wait_for(state="detached")  # archived themes are hidden by default
    await page.check("text=Show archived")
    await row.locator("text=archived").wait_for()
    await row.locator("button:text-is('Restore')").click()
    await row.locator("text=active").wait_for()
    stored_copy = await flows.db.db["themes"].find_one({"_id": copy})
    assert stored_copy is not None and stored_copy["status"] == "active"
    edited = await flows.db.db["themes"].find_one({"_id": name})
    assert edited is not None and edited["version"] == 2

    # a viewer's key: the same pages, the operator's buttons disabled
    await page.evaluate("key => localStorage.setItem('plinth.apiKey', key)", VIEWER_KEY)
    try:
        await page.goto(f"{flows.dashboard_url}/themes")
        await page.wait_for_selector(f"[data-testid=theme-row][data-theme-name={name}]")
        await page.wait_for_selector("button:text-is('New theme'):disabled")
        assert await page.locator(f"[data-theme-name={name}] button:text-is('Archive')"
                                  ).is_disabled()
        await page.goto(f"{flows.dashboard_url}/jobs/{job.id}")
        await page.wait_for_selector("input[name=alt-text]:disabled")
        await page.goto(f"{flows.dashboard_url}/review")
        await page.wait_for_selector("[data-testid=viewer-note]")
    finally:
        await page.evaluate("key => localStorage.setItem('plinth.apiKey', key)", OPERATOR_KEY)
    await page.close()


async def check_background(flows: Flows, finished: Job, name: str) -> None:
    assert finished.s3_background_keys and all(f"/{name}/" in key
                                               for key in finished.s3_background_keys)
    # the background is the stored theme's: its wall starts with the colour set in the editor
    background = Image.open(io.BytesIO(await flows.blobs.get(finished.s3_background_keys[0])))
    top = background.convert("RGB").crop((0, 0, background.width, 4)).resize((1, 1), Image.BOX)
    wall_top = (0xCF, 0xE3, 0xD4)
    assert all(abs(a - b) <= 24 for a, b in zip(top.getpixel((0, 0)), wall_top, strict=True)), (
        top.getpixel((0, 0)))
