"""JSON from outside parsed with a bound on nesting: too deep is a ValueError, never a
RecursionError (which escaped every "malformed JSON" handler as a 500)."""

from __future__ import annotations

import json
import time

import pytest

from plinth.jsonlimits import MAX_JSON_DEPTH, JsonTooDeep, json_depth, loads


@pytest.mark.parametrize(
    ("text", "depth"),
    [("1", 0), ('"[[["', 0), ("[]", 1), ("[[1], {\"a\": [2]}]", 3), ('["\\"[[["]', 1),
     ('{"a": "]]]]", "b": [[{}]]}', 4), ("[]" * 1000, 1), ("]]][[", 0)],
)  # fmt: skip
def test_depth_counts_structure_not_brackets_inside_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth
    assert json_depth(text.encode()) == depth


def test_other_encodings_are_measured_as_the_parser_reads_them() -> None:
    nested = json.dumps([[["[[[[[["]]])
    for encoding in ("utf-8", "utf-16", "utf-32"):
        assert json_depth(nested.encode(encoding)) == 3


@pytest.mark.parametrize(
    "body",
    [b"[" * 200_000, b'{"a":' * 2000 + b"1" + b"}" * 2000,
     b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)],
)  # fmt: skip
def test_too_deep_is_a_value_error_naming_the_limit(body: bytes) -> None:
    with pytest.raises(JsonTooDeep, match=f"deeper than {MAX_JSON_DEPTH} levels") as refused:
        loads(body)
    assert isinstance(refused.value, ValueError)


def test_within_the_limit_parses_as_json_loads_does() -> None:
    body = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert loads(body) == json.loads(body)
    assert loads('{"sku": "A[{", "themes": ["default"]}') == {
        "sku": "A[{", "themes": ["default"]
    }
    with pytest.raises(ValueError):
        loads(b'{"sku": ')
    with pytest.raises(ValueError):
        loads(b"\xff\xfe\xfd")


@pytest.mark.parametrize(
    "body",
    [b"[" * 256_000, b"[]" * 128_000, b'"' + b'\\"' * 128_000, b'\\"' * 128_000,
     b'["' * 128_000],
)  # fmt: skip
def test_the_scan_is_linear_on_hostile_bodies(body: bytes) -> None:
    started = time.perf_counter()
    json_depth(body)
    assert time.perf_counter() - started < 0.5
