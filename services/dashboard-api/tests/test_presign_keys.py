import pytest

from plinth import keys
from plinth.domain.job import Job
from plinth_dashboard_api.presign import AssetNotFound, BadAssetRequest, asset_key

SHA = "c" * 64


def _job(**changes: object) -> Job:
    job = Job(sku="SKU1", theme="studio", image_url="https://x/a.jpg", img_sha256=SHA)
    return job.model_copy(update=changes)


def test_single_assets_resolve_from_the_job() -> None:
    job = _job(s3_original_key=keys.original_key("SKU1", SHA))
    assert asset_key(job, "original") == "originals/SKU1/" + SHA + ".jpg"
    with pytest.raises(AssetNotFound, match="no cutout"):
        asset_key(job, "cutout")


def test_indexed_assets_need_an_index_in_range() -> None:
    backgrounds = [keys.background_key("studio", "SKU1", SHA, i) for i in range(2)]
    job = _job(s3_background_keys=backgrounds)
    assert asset_key(job, "background", index=1) == backgrounds[1]
    with pytest.raises(AssetNotFound, match="no index 2"):
        asset_key(job, "background", index=2)
    with pytest.raises(BadAssetRequest, match="needs an index"):
        asset_key(job, "background")


def test_derivative_by_variant_size_format_must_be_recorded() -> None:
    stored = keys.derivative_key("studio", "SKU1", SHA, 0, "thumb", "webp")
    job = _job(s3_derivative_keys=[stored])
    assert asset_key(job, "derivative", variant=0, size="thumb", fmt="webp") == stored
    assert asset_key(job, "derivative", index=0) == stored
    with pytest.raises(AssetNotFound, match="no hero jpg"):
        asset_key(job, "derivative", variant=0, size="hero", fmt="jpg")
    with pytest.raises(BadAssetRequest, match="size must be"):
        asset_key(job, "derivative", variant=0, size="huge", fmt="jpg")


def test_unknown_type_is_a_bad_request() -> None:
    with pytest.raises(BadAssetRequest, match="type must be one of"):
        asset_key(_job(), "secrets")
