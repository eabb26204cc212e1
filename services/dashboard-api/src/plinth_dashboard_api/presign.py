"""Which S3 key a presign request names, resolved from the job document alone.

A key the job does not record is a 404: the dashboard never signs arbitrary keys.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from plinth.domain.job import Job
from plinth.keys import DERIVATIVE_FORMATS, DERIVATIVE_SIZES, InvalidKeyPart, derivative_key

AssetType = Literal[
    "original", "cutout", "mask", "background", "composite", "derivative", "manifest"
]
ASSET_TYPES: Final[tuple[str, ...]] = get_args(AssetType)


class AssetNotFound(LookupError):
    pass


class BadAssetRequest(ValueError):
    pass


def _indexed(keys: list[str], index: int | None, what: str) -> str:
    if index is None:
        raise BadAssetRequest(f"{what} needs an index (0..{max(len(keys) - 1, 0)})")
    if not 0 <= index < len(keys):
        raise AssetNotFound(f"the job has {len(keys)} {what}(s); there is no index {index}")
    return keys[index]


def asset_key(
    job: Job,
    asset_type: str,
    *,
    index: int | None = None,
    variant: int | None = None,
    size: str | None = None,
    fmt: str | None = None,
) -> str:
    if asset_type not in ASSET_TYPES:
        raise BadAssetRequest(f"type must be one of {', '.join(ASSET_TYPES)}")
    single = {
        "original": job.s3_original_key,
        "cutout": job.s3_cutout_key,
        "mask": job.s3_mask_key,
        "manifest": job.manifest_s3_key,
    }
    if asset_type in single:
        key = single[asset_type]
        if not key:
            raise AssetNotFound(f"the job has no {asset_type} yet")
        return key
    if asset_type == "background":
        return _indexed(job.s3_background_keys, index, "background")
    if asset_type == "composite":
        return _indexed(job.s3_composite_keys, index, "composite")
    # derivative: by index into the job's list, or by (variant, size, format)
    if index is not None:
        return _indexed(job.s3_derivative_keys, index, "derivative")
    if variant is None or size is None or fmt is None:
        raise BadAssetRequest("derivative needs index, or variant + size + format")
    if size not in DERIVATIVE_SIZES or fmt not in DERIVATIVE_FORMATS:
        raise BadAssetRequest(
            f"size must be one of {DERIVATIVE_SIZES} and format one of {DERIVATIVE_FORMATS}"
        )
    if not job.img_sha256:
        raise AssetNotFound("the job has no derivatives yet")
    try:
        key = derivative_key(job.theme, job.sku, job.img_sha256, variant, size, fmt)
    except InvalidKeyPart as err:
        raise BadAssetRequest(str(err)) from err
    if key not in job.s3_derivative_keys:
        raise AssetNotFound(f"the job has no {size} {fmt} derivative of variant {variant}")
    return key
