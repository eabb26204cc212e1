"""The S3 key layout, exactly as the seed specifies, and refusal of unsafe parts."""

from __future__ import annotations

import pytest

from plinth import keys

SHA = "0123456789abcdef" * 4


def test_layout_matches_the_seed_exactly() -> None:
    assert keys.original_key("VWS200433868", SHA) == f"originals/VWS200433868/{SHA}.jpg"
    assert keys.cutout_key("VWS200433868", SHA) == f"cutouts/VWS200433868/{SHA}.png"
    assert keys.mask_key("VWS200433868", SHA) == f"masks/VWS200433868/{SHA}.png"
    assert keys.background_key("default", "S1", SHA, 2) == f"backgrounds/default/S1/{SHA}_2.jpg"
    assert keys.composite_key("warm-paper", "S1", SHA, 0) == (
        f"composites/warm-paper/S1/{SHA}_0.jpg"
    )
    assert keys.derivative_key("default", "S1", SHA, 1, "pdp", "avif") == (
        f"derivatives/default/S1/{SHA}/1_pdp.avif"
    )
    assert keys.manifest_key("S1", SHA, "default") == f"manifests/S1/{SHA}-default.json"


def test_mask_versions_keep_the_first_at_the_old_key() -> None:
    assert keys.mask_key("S1", SHA, 1) == keys.mask_key("S1", SHA) == f"masks/S1/{SHA}.png"
    assert keys.cutout_key("S1", SHA, 1) == f"cutouts/S1/{SHA}.png"
    assert keys.mask_key("S1", SHA, 2) == f"masks/S1/{SHA}.v2.png"
    assert keys.cutout_key("S1", SHA, 12) == f"cutouts/S1/{SHA}.v12.png"
    assert keys.content_type_for(keys.mask_key("S1", SHA, 3)) == "image/png"
    for bad in (0, -1, True, 1.5):
        with pytest.raises(keys.InvalidKeyPart, match="mask version"):
            keys.mask_key("S1", SHA, bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "sku",
    ["", "   ", "a/b", "../etc", "a..b", "..", "x\\y", "tab\there", "nl\n", "nul\x00", "del\x7f",
     " lead", "trail ", "x" * 129, "bidi\u202e"],
)
def test_unsafe_skus_are_refused(sku: str) -> None:
    with pytest.raises(keys.InvalidKeyPart):
        keys.original_key(sku, SHA)


@pytest.mark.parametrize("sku", ["VWS200433868", "sku-1_2.3", "Ä-ß", "x" * 128, "A B"])
def test_ordinary_skus_pass_unchanged(sku: str) -> None:
    assert keys.cutout_key(sku, SHA) == f"cutouts/{sku}/{SHA}.png"


@pytest.mark.parametrize("theme", ["", "Default", "a/b", "..", "-x", "x" * 65, "sp ace"])
def test_bad_themes_are_refused(theme: str) -> None:
    with pytest.raises(keys.InvalidKeyPart):
        keys.background_key(theme, "S1", SHA, 0)


@pytest.mark.parametrize("sha", ["", "abc", SHA.upper(), SHA + "0", "g" * 64])
def test_bad_hashes_are_refused(sha: str) -> None:
    with pytest.raises(keys.InvalidKeyPart):
        keys.mask_key("S1", sha)


def test_bad_derivative_parts_and_index_are_refused() -> None:
    with pytest.raises(keys.InvalidKeyPart, match="size"):
        keys.derivative_key("default", "S1", SHA, 0, "huge", "jpg")  # type: ignore[arg-type]
    with pytest.raises(keys.InvalidKeyPart, match="format"):
        keys.derivative_key("default", "S1", SHA, 0, "hero", "gif")  # type: ignore[arg-type]
    with pytest.raises(keys.InvalidKeyPart, match="negative"):
        keys.composite_key("default", "S1", SHA, -1)


def test_content_types() -> None:
    assert keys.content_type_for("a/b.avif") == "image/avif"
    assert keys.content_type_for("a/b.json") == "application/json"
    assert keys.content_type_for("a/b.bin") == "application/octet-stream"


def test_a_sku_is_measured_in_bytes_of_utf8_not_characters() -> None:
    """70 emoji are 70 characters (under the 128 limit) but 280 bytes: more than the 255 an S3
    key segment holds, which the S3 server refused with a 400 after the webhook had said 202."""
    with pytest.raises(keys.InvalidKeyPart, match="280 bytes of UTF-8"):
        keys.validate_sku("😀" * 70)
    assert keys.validate_sku("😀" * 63) == "😀" * 63  # 252 bytes
    with pytest.raises(keys.InvalidKeyPart, match="256 bytes"):
        keys.original_key("😀" * 64, SHA)
    assert keys.original_key("ß" * 127, SHA) == f"originals/{'ß' * 127}/{SHA}.jpg"  # 254 bytes


def test_every_key_fits_the_s3_limits_at_the_longest_parts() -> None:
    sku = "😀" * 63
    theme = "t" * 64
    longest = keys.derivative_key(theme, sku, SHA, 10**6, "thumb", "avif")
    assert len(longest.encode()) <= keys.KEY_MAX_BYTES
    assert max(len(part.encode()) for part in longest.split("/")) <= keys.SEGMENT_MAX_BYTES
    with pytest.raises(keys.InvalidKeyPart, match="segment"):
        keys.background_key("default", "S1", SHA, 10**300)  # an index no segment can hold
