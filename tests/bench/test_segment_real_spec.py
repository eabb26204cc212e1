"""``bench/segment_real.py``'s provider specs (``auto:wider=off:glass=off``) and its decision
column: every documented switch is taken, a bad value or key is a clear error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is a plain folder at the repository root
    sys.path.insert(0, str(REPO))

from bench.segment_real import _decision, parse_spec  # noqa: E402


def test_the_switches_chain_with_colons() -> None:
    spec = parse_spec("auto:wider=off:glass=off:fusion=on:side=640")
    assert spec.name == "auto"
    assert spec.options == {"wider": "off", "glass": "off", "fusion": "on", "side": "640"}


@pytest.mark.parametrize("text", ["auto:glass=maybe", "auto:wider=2", "learned:openvino=x"])
def test_a_switch_is_on_or_off(text: str) -> None:
    with pytest.raises(ValueError, match="is on or off"):
        parse_spec(text)


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(ValueError, match="options are key=value"):
        parse_spec("auto:glas=off")


def test_the_decision_names_each_step_taken() -> None:
    meta = {"fusion": {"decision": "filled", "second_look": True}, "wider_look": True,
            "translucent": {"share": 0.7, "opacity": 0.4}}
    assert _decision(meta) == "filled+second_look+wider_look+translucent"
    assert _decision({"fusion": {"decision": "learned"}, "translucent": None}) == "learned"
