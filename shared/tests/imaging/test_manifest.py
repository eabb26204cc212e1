"""Stage 6: the manifest document and its published JSON Schema."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from plinth import keys
from plinth.imaging.derivatives import Derivative
from plinth.imaging.manifest import (
    MANIFEST_VERSION,
    DerivativeInfo,
    ManifestValidationError,
    SourceInfo,
    StepError,
    build_manifest,
    manifest_json,
    manifest_schema,
    validate_manifest,
)

SHA = "ab" * 32


def derivative_infos(variants: int = 2) -> list[DerivativeInfo]:
    dims = {"hero": 2000, "pdp": 1200, "thumb": 400}
    return [
        DerivativeInfo(v, size, fmt, dims[size], dims[size], 1000 + 10 * v)
        for v in range(variants)
        for size in ("thumb", "hero", "pdp")
        for fmt in ("avif", "jpg", "webp")
    ]


def build(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(
        sku="SKU-42",
        sha256=SHA,
        theme="default",
        background_indices=[1, 0],
        composite_indices=[0, 1],
        derivatives=derivative_infos(),
        timings_ms={"segmentation_ms": 830, "derivatives_ms": 1200, "publish_ms": None},
        costs_usd={"segmentation": 0.02, "background": 0.0},
        source=SourceInfo(3000, 2000, "JPEG", 1_234_567),
        segmentation_provider="local",
        job_id="job-1",
        generated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    args.update(overrides)
    return build_manifest(**args)


def test_schema_is_valid_draft_2020_12() -> None:
    schema = manifest_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")


def test_manifest_validates_and_uses_the_key_layout() -> None:
    doc = build()
    validate_manifest(doc)
    assert doc["manifest_version"] == MANIFEST_VERSION
    assets = doc["assets"]
    assert assets["original"]["key"] == keys.original_key("SKU-42", SHA)
    assert assets["cutout"]["key"] == f"cutouts/SKU-42/{SHA}.png"
    assert assets["mask"]["key"] == f"masks/SKU-42/{SHA}.png"
    assert [b["key"] for b in assets["backgrounds"]] == [
        f"backgrounds/default/SKU-42/{SHA}_0.jpg",
        f"backgrounds/default/SKU-42/{SHA}_1.jpg",
    ]
    assert assets["composites"][1]["key"] == f"composites/default/SKU-42/{SHA}_1.jpg"
    assert assets["manifest"]["key"] == f"manifests/SKU-42/{SHA}-default.json"
    first = assets["derivatives"][0]
    assert first["key"] == f"derivatives/default/SKU-42/{SHA}/0_hero.avif"
    assert (first["size"], first["format"], first["content_type"]) == ("hero", "avif", "image/avif")
    assert len(assets["derivatives"]) == 18
    assert doc["totals"] == {"derivative_count": 18, "derivative_bytes": 9 * 1000 + 9 * 1010}


def test_the_mask_version_is_recorded_with_its_keys() -> None:
    first = build()["assets"]
    assert (first["mask"]["version"], first["mask"]["source"], first["cutout"]["version"]) == (
        1, "model", 1)
    doc = build(mask_version=3, mask_source="touch-up")
    validate_manifest(doc)
    assert doc["assets"]["mask"] == {"key": f"masks/SKU-42/{SHA}.v3.png",
                                     "content_type": "image/png", "version": 3,
                                     "source": "touch-up"}
    assert doc["assets"]["cutout"]["key"] == f"cutouts/SKU-42/{SHA}.v3.png"
    assert doc["assets"]["cutout"]["version"] == 3
    bad = build()
    bad["assets"]["mask"]["source"] = "guess"
    with pytest.raises(ManifestValidationError, match="assets/mask/source"):
        validate_manifest(bad)
    legacy = build()  # manifests written before versions validate as they are
    for name in ("mask", "cutout"):
        legacy["assets"][name].pop("version")
    legacy["assets"]["mask"].pop("source")
    validate_manifest(legacy)


def test_timings_costs_and_status() -> None:
    doc = build()
    assert doc["timings_ms"] == {"segmentation_ms": 830, "derivatives_ms": 1200}
    assert doc["cost"] == {
        "currency": "USD",
        "total_usd": 0.02,
        "breakdown": {"segmentation": 0.02, "background": 0.0},
    }
    assert doc["status"] == "complete" and doc["errors"] == []
    failed = build(errors=[StepError("publish", "shopify_unavailable", "503 from Shopify")])
    validate_manifest(failed)
    assert failed["status"] == "partial"
    assert failed["errors"][0]["code"] == "shopify_unavailable"


def test_signer_adds_urls_to_every_asset() -> None:
    doc = build(signer=lambda key: f"https://bucket.s3.example/{key}?X-Amz-Signature=abc")
    validate_manifest(doc)
    assets = doc["assets"]
    singles = [assets[k] for k in ("original", "cutout", "mask")]
    lists = assets["backgrounds"] + assets["composites"] + assets["derivatives"]
    for entry in singles + lists:
        assert entry["url"].startswith("https://bucket.s3.example/" + entry["key"])
    assert all("url" not in e for e in build()["assets"]["derivatives"])


def test_derivative_info_from_a_derivative() -> None:
    d = Derivative("pdp", "webp", 1200, 1200, b"x" * 77, "image/webp")
    assert DerivativeInfo.of(3, d) == DerivativeInfo(3, "pdp", "webp", 1200, 1200, 77)


def test_json_bytes_roundtrip() -> None:
    doc = build()
    assert json.loads(manifest_json(doc)) == doc


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("manifest_version",), "0.9", "manifest_version"),
        (("job", "sha256"), "not-a-hash", "job/sha256"),
        (("assets", "derivatives", 0, "size"), "huge", "assets/derivatives/0/size"),
        (("assets", "derivatives", 0, "bytes"), 0, "assets/derivatives/0/bytes"),
        (("timings_ms", "segmentation"), 5, "timings_ms"),
        (("cost", "total_usd"), -1, "cost/total_usd"),
        (("assets", "original", "url"), "ftp://x", "assets/original/url"),
    ],
)
def test_invalid_documents_are_refused_with_the_path(
    path: tuple[Any, ...], value: Any, where: str
) -> None:
    doc = copy.deepcopy(build())
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(ManifestValidationError, match=where):
        validate_manifest(doc)


def test_missing_required_field() -> None:
    doc = build()
    del doc["errors"]
    with pytest.raises(ManifestValidationError, match="errors"):
        validate_manifest(doc)


def test_bad_key_parts_are_refused() -> None:
    with pytest.raises(keys.InvalidKeyPart):
        build(sku="../escape")
