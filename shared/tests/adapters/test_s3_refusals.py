"""Which S3 errors refuse a put for good (the job fails) and which may pass (retry)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from plinth.adapters.s3 import refused


def error(status: int, code: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "KeyTooLongError"), (400, "InvalidArgument"), (400, "InvalidRequest"),
     (413, "EntityTooLarge"), (409, "ExistingObjectIsDirectory"), (400, "SomethingNew")],
)  # fmt: skip
def test_permanent_refusals(status: int, code: str) -> None:
    assert refused(error(status, code))


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "RequestTimeout"), (400, "IncompleteBody"), (400, "ExpiredToken"),
     (403, "AccessDenied"), (404, "NoSuchBucket"), (409, "OperationAborted"),
     (429, "SlowDown"), (503, "SlowDown"), (500, "InternalError")],
)  # fmt: skip
def test_errors_that_may_pass(status: int, code: str) -> None:
    assert not refused(error(status, code))
