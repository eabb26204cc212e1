"""The blob store: every artefact lives in one S3 bucket under the key layout of ``plinth.keys``."""

from __future__ import annotations

from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Self

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError

from plinth.keys import content_type_for
from plinth.settings import S3Settings

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}

# A put refused with one of these statuses is refused for good: the same key and body will be
# refused again (a key too long, a name the server cannot store, an object too large). Not
# 403/404 (credentials, a missing bucket: an operator's to fix, after which the put works) and not
# 408/409/429 (a timeout, a conflicting operation, throttling: they pass).
_REFUSED_STATUSES = frozenset({400, 411, 413, 414})
# Codes S3 sends with a 400 although trying again can help.
_TRANSIENT_CODES = frozenset(
    {"RequestTimeout", "IncompleteBody", "BadDigest", "ExpiredToken", "TokenRefreshRequired",
     "SlowDown", "InternalError", "AuthorizationHeaderMalformed", "InvalidBucketName"}
)  # fmt: skip
# Codes that are permanent whatever the status a server pairs them with (versitygw answers 409
# ExistingObjectIsDirectory for a file name its filesystem cannot hold).
_REFUSED_CODES = frozenset(
    {"KeyTooLongError", "InvalidObjectName", "EntityTooLarge", "ExistingObjectIsDirectory",
     "ObjectParentIsFile"}
)  # fmt: skip


class BlobNotFound(KeyError):
    """No object at that key."""


class BlobRefused(Exception):
    """The store refused to write this object for a reason no retry fixes (see
    ``_REFUSED_STATUSES``): the job that wanted it must fail, not retry or rewind."""

    code = "s3_refused"

    def __init__(self, key: str, status: int, s3_code: str, message: str) -> None:
        super().__init__(f"S3 refused {key!r}: HTTP {status} {s3_code}: {message}")
        self.key = key
        self.status = status
        self.s3_code = s3_code
        self.message = str(self)


def refused(err: ClientError) -> bool:
    """Whether ``err`` refuses the request for good rather than for now."""
    code = _error_code(err)
    if code in _REFUSED_CODES:
        return True
    status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return status in _REFUSED_STATUSES and code not in _TRANSIENT_CODES


class BlobStore:
    """An S3 bucket opened as an async context manager (one aiobotocore client per store)."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str,
        presign_ttl_s: int = 900,
    ) -> None:
        self.bucket = bucket
        self.presign_ttl_s = presign_ttl_s
        self._endpoint_url = endpoint_url
        self._session = aioboto3.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        # Path-style addressing: local S3 servers have no per-bucket DNS names.
        self._config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 4, "mode": "standard"},
            max_pool_connections=32,
        )
        self._stack: AsyncExitStack | None = None
        self._client: Any = None

    @classmethod
    def from_settings(cls, settings: S3Settings) -> BlobStore:
        return cls(
            endpoint_url=settings.s3_endpoint,
            bucket=settings.s3_bucket,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            region=settings.s3_region,
            presign_ttl_s=settings.presign_ttl_s,
        )

    async def __aenter__(self) -> Self:
        self._stack = AsyncExitStack()
        self._client = await self._stack.enter_async_context(
            self._session.client("s3", endpoint_url=self._endpoint_url, config=self._config)
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = None
        self._client = None

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError("BlobStore is not open: use 'async with BlobStore(...)'")
        return self._client

    async def ensure_bucket(self) -> None:
        try:
            await self.client.head_bucket(Bucket=self.bucket)
        except ClientError as err:
            if _error_code(err) not in _NOT_FOUND | {"NoSuchBucket"}:
                raise
            await self.client.create_bucket(Bucket=self.bucket)

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Raises :class:`BlobRefused` when the store will never take this object."""
        try:
            await self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type or content_type_for(key),
            )
        except ClientError as err:
            if refused(err):
                status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                message = str(err.response.get("Error", {}).get("Message", err))
                raise BlobRefused(key, int(status or 0), _error_code(err), message) from err
            raise

    async def ping(self) -> None:
        """Raises unless the bucket answers (readiness)."""
        await self.client.head_bucket(Bucket=self.bucket)

    async def get(self, key: str) -> bytes:
        try:
            response = await self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            if _error_code(err) in _NOT_FOUND:
                raise BlobNotFound(key) from err
            raise
        async with response["Body"] as body:
            data: bytes = await body.read()
        return data

    async def exists(self, key: str) -> bool:
        try:
            await self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            if _error_code(err) in _NOT_FOUND:
                return False
            raise
        return True

    async def _folders(self, prefix: str = "") -> list[str]:
        """Every prefix under ``prefix`` ("a/", "a/b/", ...), by listing with a delimiter."""
        found: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                found.append(common["Prefix"])
                found.extend(await self._folders(common["Prefix"]))
        return found

    async def delete(self, key: str) -> None:
        await self.client.delete_object(Bucket=self.bucket, Key=key)

    async def list(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    async def delete_all(self, prefix: str = "") -> int:
        """Delete every object under ``prefix`` (the whole bucket by default); returns how many.
        A missing bucket holds nothing."""
        try:
            keys = await self.list(prefix)
        except ClientError as err:
            if _error_code(err) == "NoSuchBucket":
                return 0
            raise
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 keys at most
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            await self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
        return len(keys)

    async def delete_bucket(self) -> int:
        """Delete every object, then the bucket itself (a test session's own); returns how many
        objects there were. Nothing happens to a bucket that does not exist."""
        count = await self.delete_all()
        try:
            # A server that keeps objects as files (versitygw) can keep a folder without objects
            # (a put refused half-way leaves one): it still lists as a prefix and blocks the
            # delete. Deleting the folder's key ("a/b/") removes it; deepest first.
            for folder in sorted(await self._folders(), key=lambda f: -f.count("/")):
                await self.client.delete_object(Bucket=self.bucket, Key=folder)
            await self.client.delete_bucket(Bucket=self.bucket)
        except ClientError as err:
            if _error_code(err) not in _NOT_FOUND | {"NoSuchBucket"}:
                raise
        return count

    async def presign_get(self, key: str, ttl_s: int | None = None) -> str:
        url: str = await self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=ttl_s or self.presign_ttl_s,
        )
        return url


def _error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))
