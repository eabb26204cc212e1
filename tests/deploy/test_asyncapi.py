"""The AsyncAPI document covers every topic with its payload model, and the committed copy
(docs/asyncapi.json, linked from the README) is what the code generates."""

from __future__ import annotations

import json
from pathlib import Path

from plinth.adapters.asyncapi import document
from plinth.messaging.topics import all_topics

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def test_every_topic_is_documented_with_a_typed_payload() -> None:
    spec = document()
    assert spec["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in spec["channels"].values()}
    assert set(all_topics()) <= addresses, sorted(set(all_topics()) - addresses)
    schemas = spec["components"]["schemas"]
    for model in ("JobEvent", "IngestRequested", "JobFailed", "DeadLetter", "ControlCommand"):
        assert "properties" in schemas[model], model
    assert "job_id" in schemas["JobEvent"]["properties"]
    actions = {op["action"] for op in spec["operations"].values()}
    assert actions == {"receive", "send"}


def test_the_committed_document_is_current() -> None:
    generated = json.dumps(document(), indent=2, sort_keys=True) + "\n"
    assert COMMITTED.read_text() == generated, (
        "docs/asyncapi.json is stale: "
        "uv run python -m plinth.adapters.asyncapi > docs/asyncapi.json"
    )
