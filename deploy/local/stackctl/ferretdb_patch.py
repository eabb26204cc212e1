"""Two small fixes applied to FerretDB v1.24's source before the local stack builds it.

Both are bugs that Plinth's code would hit; a real mongod has neither, so code written
against the local stack stays correct against MongoDB. Each edit must match exactly once,
otherwise the build stops instead of producing a half-patched server.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from .config import REPO_ROOT

SERIALIZE_WRITES_GO = REPO_ROOT / "deploy" / "local" / "ferretdb" / "serialize_writes.go"

# (file in the module, upstream text, replacement)
EDITS: list[tuple[str, str, str]] = [
    # 1. Conditional updates must have one winner: hook in serialize_writes.go.
    (
        "internal/handler/commands.go",
        "\tfor name, cmd := range h.commands {\n",
        "\th.plinthSerializeWrites()\n\n\tfor name, cmd := range h.commands {\n",
    ),
    # 2. $group with several accumulators: upstream feeds one shared iterator to all of
    #    them, so every accumulator after the first sees it exhausted and yields 0.
    (
        "internal/handler/common/aggregations/stages/group.go",
        "\t\tgroupIter := iterator.Values(iterator.ForSlice(groupedDocument.documents))\n"
        "\t\tdefer groupIter.Close()\n"
        "\n"
        "\t\tfor _, accumulation := range g.groupBy {\n"
        "\t\t\tout, err := accumulation.accumulator.Accumulate(groupIter)\n",
        "\t\tfor _, accumulation := range g.groupBy {\n"
        "\t\t\t// Plinth patch: a fresh iterator for each accumulator.\n"
        "\t\t\tgroupIter := iterator.Values(iterator.ForSlice(groupedDocument.documents))\n"
        "\t\t\tout, err := accumulation.accumulator.Accumulate(groupIter)\n"
        "\t\t\tgroupIter.Close()\n",
    ),
]


class PatchError(Exception):
    """The upstream source no longer looks the way the edits expect."""


def fingerprint() -> str:
    """Changes whenever the patch changes, so the install is rebuilt."""
    digest = hashlib.sha256(SERIALIZE_WRITES_GO.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:12]


def apply(src: Path) -> None:
    shutil.copy(SERIALIZE_WRITES_GO, src / "internal" / "handler" / "plinth_serialize_writes.go")
    for relative, old, new in EDITS:
        path = src / relative
        text = path.read_text()
        if text.count(old) != 1:
            raise PatchError(f"FerretDB source {relative} does not match the expected text")
        path.write_text(text.replace(old, new))
