"""JSON from outside, parsed with a bound on nesting depth.

``json.loads`` (and msgspec, which Litestar uses) recurse once per nesting level, so a body of a
few kilobytes nested a few thousand deep raises ``RecursionError``: not a ``ValueError``, so it
escapes every "malformed JSON" handler and becomes a 500 (or, in a consumer, a record that fails
forever). The depth is measured first, in linear time and without recursion, and a body nested
deeper than any real payload is refused as :class:`JsonTooDeep`, a ``ValueError`` like every other
malformed body.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any, Final

MAX_JSON_DEPTH: Final = 32
"""Deeper than any payload Plinth reads (its events and webhook bodies are 2-3 levels deep), far
below the interpreter's recursion limit."""

# A string literal, so that brackets inside strings do not count. Possessive quantifiers and the
# unterminated-string alternative make every match consume its input once: linear on any input,
# including a body full of unbalanced quotes and backslashes.
_STRING: Final = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]++")
# Each remaining byte is an opening (+1) or closing (-1) bracket.
_STEP: Final = [0] * 256
for _byte in b"[{":
    _STEP[_byte] = 1
for _byte in b"]}":
    _STEP[_byte] = -1


class JsonTooDeep(ValueError):
    """The document nests arrays/objects deeper than allowed."""

    def __init__(self, depth: int, max_depth: int) -> None:
        super().__init__(f"JSON is nested deeper than {max_depth} levels ({depth} or more)")
        self.depth = depth
        self.max_depth = max_depth


def _text(data: bytes | bytearray | str) -> str:
    """The text ``json.loads`` would parse: bytes are decoded the same way (UTF-8/16/32 by
    detection), so the scan sees exactly the characters the parser sees. A body that does not
    decode raises ``UnicodeDecodeError``, a ``ValueError``."""
    if isinstance(data, str):
        return data
    return bytes(data).decode(json.detect_encoding(data), "surrogatepass")


def json_depth(data: bytes | bytearray | str) -> int:
    """The deepest nesting of arrays and objects in ``data`` (0 for a scalar). Not a validator:
    up to the first syntax error it counts exactly what the parser would nest, and the parser
    stops there."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", _text(data))).encode("ascii")
    if not brackets:
        return 0
    # map/accumulate/max all run in C: about a millisecond for 256 kB of brackets.
    return max(0, max(accumulate(map(_STEP.__getitem__, brackets))))


def check_json_depth(data: bytes | bytearray | str, max_depth: int = MAX_JSON_DEPTH) -> None:
    depth = json_depth(data)
    if depth > max_depth:
        raise JsonTooDeep(depth, max_depth)


def loads(data: bytes | bytearray | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that raises :class:`JsonTooDeep` (a ``ValueError``) instead of recursing
    without bound; every other malformed input raises ``ValueError`` as before."""
    text = _text(data)
    check_json_depth(text, max_depth)
    return json.loads(text)
