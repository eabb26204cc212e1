"""Stage 6: the manifest, one JSON document per (sku, image, theme) listing everything made.

Same content as the original system's ``workflows/manifest.js``: every S3 key (original, cutout,
mask, backgrounds, composites, derivatives with size/format/bytes/width/height), presigned URLs
when a signer is given, timings per step, the cost breakdown and errors; plus a
``manifest_version`` and a published JSON Schema (``manifest.schema.json``, draft 2020-12) that
:func:`validate_manifest` checks against.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from plinth import keys
from plinth.imaging.derivatives import Derivative

MANIFEST_VERSION: Final = "1.0"
SCHEMA_ID: Final = "https://plinth.dev/schemas/manifest-1.0.json"

Signer = Callable[[str], str]
"""Turns an S3 key into a presigned GET URL (the adapter closes over bucket and expiry)."""


class ManifestValidationError(ValueError):
    """A manifest document does not match the published schema."""


@dataclass(frozen=True)
class DerivativeInfo:
    """What the manifest records about one derivative (the bytes themselves live in S3)."""

    variant: int
    size: keys.DerivativeSize
    fmt: keys.DerivativeFormat
    width: int
    height: int
    bytes: int

    @classmethod
    def of(cls, variant: int, derivative: Derivative) -> DerivativeInfo:
        return cls(
            variant,
            derivative.size,
            derivative.fmt,
            derivative.width,
            derivative.height,
            len(derivative.data),
        )


@dataclass(frozen=True)
class SourceInfo:
    width: int
    height: int
    format: str
    bytes: int


@dataclass(frozen=True)
class StepError:
    step: str
    code: str
    message: str


def build_manifest(
    *,
    sku: str,
    sha256: str,
    theme: str,
    background_indices: Sequence[int],
    composite_indices: Sequence[int],
    derivatives: Sequence[DerivativeInfo],
    timings_ms: Mapping[str, int | None] | None = None,
    costs_usd: Mapping[str, float] | None = None,
    errors: Sequence[StepError] = (),
    source: SourceInfo | None = None,
    segmentation_provider: str | None = None,
    background_source: str = "procedural",
    job_id: str | None = None,
    signer: Signer | None = None,
    generated_at: datetime | None = None,
    mask_version: int = 1,
    mask_source: str = "model",
) -> dict[str, Any]:
    """The manifest document (a JSON-ready dict) for one (sku, sha256, theme).

    Keys come from :mod:`plinth.keys`, so they match exactly what the stages wrote. With a
    ``signer`` every asset also gets a ``url``. ``status`` is ``complete`` when no step
    recorded an error and ``partial`` otherwise. ``mask_version`` is the mask (and cut-out)
    version the composites were made from (1: the segmentation's; later: a person's touch-up,
    ``mask_source`` says which kind), recorded on the mask and cut-out entries.
    """
    costs = {step: round(float(usd), 6) for step, usd in (costs_usd or {}).items()}
    timings = {step: ms for step, ms in (timings_ms or {}).items() if ms is not None}

    def asset(key: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"key": key, "content_type": keys.content_type_for(key)}
        if signer is not None:
            entry["url"] = signer(key)
        return entry

    derivative_entries = []
    for d in sorted(derivatives, key=lambda d: (d.variant, _SIZE_ORDER[d.size], d.fmt)):
        entry = asset(keys.derivative_key(theme, sku, sha256, d.variant, d.size, d.fmt))
        entry.update(
            variant=d.variant,
            size=d.size,
            format=d.fmt,
            width=d.width,
            height=d.height,
            bytes=d.bytes,
        )
        derivative_entries.append(entry)

    doc: dict[str, Any] = {
        "$schema": SCHEMA_ID,
        "manifest_version": MANIFEST_VERSION,
        "generated_at": (generated_at or datetime.now(UTC)).isoformat(),
        "status": "partial" if errors else "complete",
        "job": {"job_id": job_id, "sku": sku, "sha256": sha256, "theme": theme},
        "source": None
        if source is None
        else {
            "width": source.width,
            "height": source.height,
            "format": source.format,
            "bytes": source.bytes,
        },
        "providers": {"segmentation": segmentation_provider, "background": background_source},
        "assets": {
            "original": asset(keys.original_key(sku, sha256)),
            "cutout": {**asset(keys.cutout_key(sku, sha256, mask_version)),
                       "version": mask_version},
            "mask": {**asset(keys.mask_key(sku, sha256, mask_version)),
                     "version": mask_version, "source": mask_source},
            "backgrounds": [
                {"index": i, **asset(keys.background_key(theme, sku, sha256, i))}
                for i in sorted(background_indices)
            ],
            "composites": [
                {"index": i, **asset(keys.composite_key(theme, sku, sha256, i))}
                for i in sorted(composite_indices)
            ],
            "derivatives": derivative_entries,
            "manifest": {"key": keys.manifest_key(sku, sha256, theme)},
        },
        "totals": {
            "derivative_count": len(derivative_entries),
            "derivative_bytes": sum(d.bytes for d in derivatives),
        },
        "timings_ms": timings,
        "cost": {
            "currency": "USD",
            "total_usd": round(sum(costs.values()), 6),
            "breakdown": costs,
        },
        "errors": [{"step": e.step, "code": e.code, "message": e.message} for e in errors],
    }
    return doc


_SIZE_ORDER: Final = {"hero": 0, "pdp": 1, "thumb": 2}


@lru_cache(maxsize=1)
def manifest_schema() -> dict[str, Any]:
    """The published JSON Schema (packaged as ``plinth/imaging/manifest.schema.json``)."""
    text = resources.files("plinth.imaging").joinpath("manifest.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return schema


def validate_manifest(doc: Mapping[str, Any]) -> None:
    """Raise ``ManifestValidationError`` naming every place ``doc`` breaks the schema."""
    validator = Draft202012Validator(manifest_schema())
    problems: list[ValidationError] = sorted(
        validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))
    )
    if problems:
        detail = "; ".join(
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in problems
        )
        raise ManifestValidationError(f"manifest does not match schema: {detail}")


def manifest_json(doc: Mapping[str, Any]) -> bytes:
    """Stable, human-readable bytes to upload (sorted keys are NOT used: order is meaningful)."""
    return json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8")
