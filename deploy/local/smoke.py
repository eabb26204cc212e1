"""Smoke check of a running stack through Plinth's own settings: one real round trip each
through Kafka, the MongoDB-wire server and S3 (presigned GET included).

Run with the project's venv: `uv run python deploy/local/smoke.py` (`make demo` does).
Exit status 0 when all three pass; otherwise 1, naming the failing component.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

import boto3
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from botocore.config import Config
from pymongo import MongoClient

from plinth.settings import InfrastructureSettings


async def check_kafka(settings: InfrastructureSettings, token: str) -> str:
    topic = f"smoke.{token}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, token.encode())
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=topic,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), 30)
        finally:
            await consumer.stop()
        if message.value != token.encode():
            raise AssertionError(f"consumed {message.value!r}, produced {token!r}")
    finally:
        await admin.delete_topics([topic])
        await admin.close()
    return f"topic {topic} created, message produced and consumed"


def check_mongo(settings: InfrastructureSettings, token: str) -> str:
    client: MongoClient[dict[str, object]] = MongoClient(
        settings.mongo_uri, serverSelectionTimeoutMS=5000
    )
    try:
        collection = client[settings.mongo_db]["smoke"]
        collection.insert_one({"_id": token, "ok": True})
        found = collection.find_one({"_id": token})
        collection.delete_one({"_id": token})
        if found != {"_id": token, "ok": True}:
            raise AssertionError(f"read back {found!r}")
    finally:
        client.close()
    return f"document inserted, found and deleted in {settings.mongo_db}.smoke"


def check_s3(settings: InfrastructureSettings, token: str) -> str:
    s3 = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key.get_secret_value(),
        region_name=settings.s3_region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    key = f"smoke/{token}.txt"
    s3.put_object(Bucket=settings.s3_bucket, Key=key, Body=token.encode())
    try:
        url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": settings.s3_bucket, "Key": key}, ExpiresIn=60
        )
        response = httpx.get(url, timeout=10)
        if response.status_code != 200 or response.content != token.encode():
            raise AssertionError(f"presigned GET gave HTTP {response.status_code}")
    finally:
        s3.delete_object(Bucket=settings.s3_bucket, Key=key)
    return f"object put, fetched by presigned URL and deleted in bucket {settings.s3_bucket}"


def main() -> int:
    settings = InfrastructureSettings()
    token = uuid.uuid4().hex[:12]
    checks = {
        "kafka": lambda: asyncio.run(check_kafka(settings, token)),
        "mongo": lambda: check_mongo(settings, token),
        "s3": lambda: check_s3(settings, token),
    }
    failed = []
    for name, check in checks.items():
        started = time.monotonic()
        try:
            detail = check()
        except Exception as exc:  # report every component, not just the first failure
            failed.append(name)
            print(f"FAIL {name:5} {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        print(f"ok   {name:5} {detail} ({time.monotonic() - started:.1f}s)")
    if failed:
        print(
            f"smoke check failed: {', '.join(failed)}; see deploy/local/stack logs", file=sys.stderr
        )
        return 1
    print("smoke check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
