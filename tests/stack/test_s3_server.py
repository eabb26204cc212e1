"""The S3 server of the local stack: signed access, presigned GETs, objects on disk."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from .conftest import REPO_ROOT

pytestmark = pytest.mark.stack


@pytest.fixture
def s3(shared_stack: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=shared_stack["s3"],
        aws_access_key_id=os.environ.get("PLINTH_S3_ACCESS_KEY", "plinth"),
        aws_secret_access_key=os.environ.get("PLINTH_S3_SECRET_KEY", "plinth-secret-key"),
        region_name=os.environ.get("PLINTH_S3_REGION", "us-east-1"),
        # SigV4 (versitygw, like AWS, refuses SigV2 presigned URLs) and path-style URLs.
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


BUCKET = os.environ.get("PLINTH_S3_BUCKET", "plinth")


def test_presigned_get_serves_the_object_and_refuses_tampering(s3: Any) -> None:
    key = f"stacktest/{uuid.uuid4().hex}/cutout.png"
    body = os.urandom(2048)
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="image/png")
    try:
        url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=60
        )
        response = httpx.get(url)
        assert response.status_code == 200
        assert response.content == body
        assert response.headers["content-type"] == "image/png"

        tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
        assert httpx.get(tampered).status_code == 403
        assert httpx.get(url.split("?", 1)[0]).status_code == 403  # anonymous
    finally:
        s3.delete_object(Bucket=BUCKET, Key=key)


def test_presigned_url_expires(s3: Any) -> None:
    key = f"stacktest/{uuid.uuid4().hex}.txt"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    try:
        url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=1
        )
        time.sleep(2.1)
        assert httpx.get(url).status_code == 403
    finally:
        s3.delete_object(Bucket=BUCKET, Key=key)


def test_objects_persist_as_files_and_list_by_prefix(s3: Any) -> None:
    prefix = f"stacktest/{uuid.uuid4().hex}/"
    for name in ("a.jpg", "b.jpg", "c/d.jpg"):
        s3.put_object(Bucket=BUCKET, Key=prefix + name, Body=name.encode())
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    assert sorted(o["Key"] for o in listed["Contents"]) == [
        prefix + "a.jpg",
        prefix + "b.jpg",
        prefix + "c/d.jpg",
    ]
    state_dir = Path(os.environ.get("PLINTH_STACK_DIR") or REPO_ROOT / ".stack")
    on_disk = state_dir / "data" / "s3" / BUCKET / prefix / "c" / "d.jpg"
    if os.environ.get("PLINTH_S3_ENDPOINT") is None:  # only the local stack keeps files here
        assert on_disk.read_bytes() == b"c/d.jpg"
    s3.delete_objects(
        Bucket=BUCKET, Delete={"Objects": [{"Key": o["Key"]} for o in listed["Contents"]]}
    )
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["KeyCount"] == 0
