"""``make demo``'s verdict (``scripts/demo.py``), without the stack: which outcomes pass, which
fail, and that each is named. The demo itself runs the whole pipeline (``make demo``)."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from plinth.domain.job import Job, Review
from plinth.domain.states import JobStatus

REPO = Path(__file__).resolve().parents[2]
REVIEW_URL = "http://127.0.0.1:8080/review"


@pytest.fixture(scope="module")
def demo() -> ModuleType:
    path = REPO / "scripts" / "demo.py"
    spec = importlib.util.spec_from_file_location("plinth_demo_script", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def job(sku: str, theme: str, status: JobStatus, confidence: float | None = 0.8) -> Job:
    review = None
    if status == JobStatus.IN_REVIEW:
        review = Review(held_at=datetime.now(UTC), confidence=confidence, threshold=0.5,
                        reason="confidence under the threshold")
    return Job(sku=sku, theme=theme, image_url=f"http://127.0.0.1/{sku}.jpg", status=status,
               segment_confidence=confidence, review=review)


def clean(count: int) -> list[Job]:
    return [job(f"DEMO-{n}", "default", JobStatus.DONE) for n in range(1, count + 1)]


def test_the_demo_sends_the_hard_photo_and_stops_waiting_at_a_held_job(
    demo: ModuleType, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "argv", ["demo.py"])
    assert demo.parse_args().hard_photo is True
    monkeypatch.setattr(sys, "argv", ["demo.py", "--no-hard-photo"])
    assert demo.parse_args().hard_photo is False
    assert {JobStatus.DONE, JobStatus.FAILED, JobStatus.IN_REVIEW} == demo.SETTLED


def test_done_and_the_hard_photo_held_pass_and_point_at_the_queue(demo: ModuleType) -> None:
    jobs = [*clean(11), job(demo.HARD_SKU, "default", JobStatus.IN_REVIEW, 0.0)]
    rc, lines = demo.verdict(jobs, REVIEW_URL)
    assert rc == 0
    assert lines == [f"11/12 DONE, 1 held for review: open {REVIEW_URL}"]


def test_a_clean_photo_held_fails_and_is_named(demo: ModuleType) -> None:
    held = job("DEMO-3", "warm_paper", JobStatus.IN_REVIEW, 0.47)
    jobs = [*clean(2), held, job(demo.HARD_SKU, "default", JobStatus.IN_REVIEW, 0.0)]
    rc, lines = demo.verdict(jobs, REVIEW_URL)
    assert rc == 1
    assert lines[0] == f"2/4 DONE, 2 held for review: open {REVIEW_URL}"
    assert lines[1:] == [f"a clean studio photo was held for review: DEMO-3/warm_paper "
                         f"({held.id[:8]}), confidence 0.47 < threshold 0.50"]


def test_a_failed_job_fails_and_is_named(demo: ModuleType) -> None:
    failed = job("DEMO-2", "default", JobStatus.FAILED)
    failed.error_code, failed.error_message = "download_failed", "HTTP 404"
    rc, lines = demo.verdict([*clean(1), failed], REVIEW_URL)
    assert rc == 1
    assert lines == ["1/2 DONE, 1 FAILED",
                     f"FAILED: DEMO-2/default ({failed.id[:8]}): download_failed: HTTP 404"]


def test_a_hard_photo_that_is_not_held_is_said_without_failing(demo: ModuleType) -> None:
    hard = job(demo.HARD_SKU, "default", JobStatus.DONE, 0.62)
    rc, lines = demo.verdict([*clean(1), hard], REVIEW_URL)
    assert rc == 0
    assert lines == ["2/2 DONE", f"note: the hard photo was not held for review: "
                     f"{demo.HARD_SKU}/default ({hard.id[:8]}) is DONE, confidence 0.62"]


def test_a_job_still_running_fails(demo: ModuleType) -> None:
    running = job("DEMO-1", "default", JobStatus.COMPOSITED)
    rc, lines = demo.verdict([running], REVIEW_URL)
    assert rc == 1
    assert lines[1] == f"not finished: DEMO-1/default ({running.id[:8]}) is COMPOSITED"
