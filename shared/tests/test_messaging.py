from __future__ import annotations

import pytest
from pydantic import ValidationError

from plinth.domain.states import JobStatus, Stage
from plinth.messaging import topics
from plinth.messaging.events import ControlCommand, IngestRequested, JobEvent


def test_one_topic_per_stage_transition_plus_retry_dlq_control() -> None:
    names = topics.all_topics()
    assert len(names) == len(set(names))
    for stage in topics.STAGE_INPUT:
        assert topics.STAGE_INPUT[stage] in names
        assert topics.retry_topic(stage) in names
    assert topics.DEAD_LETTER in names and topics.CONTROL in names
    # each stage's output is the next stage's input: the chain has no gaps
    inputs = set(topics.STAGE_INPUT.values())
    assert set(topics.STAGE_OUTPUT.values()) - inputs == {topics.JOB_DONE}


def test_events_round_trip_and_refuse_unknown_versions() -> None:
    event = JobEvent(job_id="j1", sku="S", theme="default", status=JobStatus.NEW)
    again = JobEvent.model_validate_json(event.model_dump_json())
    assert again == event
    with pytest.raises(ValidationError):
        JobEvent.model_validate({**event.model_dump(), "schema_version": 2})
    with pytest.raises(ValidationError):
        IngestRequested(delivery_id="d", sku="S", image_url="ftp://x/y.jpg", themes=["default"])  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        IngestRequested(delivery_id="d", sku="S", image_url="https://x/y.jpg", themes=[])  # type: ignore[arg-type]
    assert ControlCommand(action="pause", stage=Stage.SEGMENT).stage is Stage.SEGMENT


def test_retry_after_a_download_failure_goes_back_to_the_downloader() -> None:
    from plinth.domain.job import Job
    from plinth.domain.transitions import fail, retry
    from plinth.messaging.resume import resume_message

    job = Job(sku="S", theme="default", image_url="https://img.example/a.jpg", img_sha256="a" * 64,
              delivery_id="d1")
    failed = fail(job, stage=Stage.DOWNLOAD, code="http_404", message="gone")
    topic, event = resume_message(failed, retry(failed))
    assert topic == topics.INGEST_REQUESTED
    assert isinstance(event, IngestRequested)
    assert event.job_ids == [job.id] and event.themes == ["default"]
    assert event.delivery_id == "d1"

    failed = fail(job, stage=Stage.SEGMENT, code="x", message="y")
    topic, event = resume_message(failed, retry(failed))
    assert topic == topics.JOB_NEW
    assert isinstance(event, JobEvent) and event.status is JobStatus.NEW
