"""``POST /api/ingest/batch`` on the real stack: per-row results, good rows kept, bad rows named."""

from __future__ import annotations

import hashlib

import pytest

from plinth.adapters.mongo import Database
from plinth_ingest.app import BATCH_PATH
from plinth_ingest.signature import signed_headers
from plinth_testkit.http_server import LocalHttpServer

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session")]

SECRET = "test-webhook-secret"


def signed(body: bytes, content_type: str, secret: str = SECRET) -> dict[str, str]:
    return {"content-type": content_type, **signed_headers(secret, body)}


async def test_good_rows_are_accepted_and_bad_rows_reported_by_line(
    client, images: LocalHttpServer, db: Database, wait_jobs, make_jpeg, unique: str
) -> None:  # type: ignore[no-untyped-def]
    photo, other = make_jpeg((5, 5, 200)), make_jpeg((5, 200, 5))
    sha = hashlib.sha256(photo).hexdigest()
    url = images.image(f"/{unique}/batch-a.jpg", photo)
    url_b = images.image(f"/{unique}/batch-b.jpg", other)
    csv = (
        "sku,image_url,theme,img_sha256\n"
        f"A-{unique},{url},default,{sha}\n"  # line 2
        f"A-{unique},{url},warm_paper,{sha}\n"  # line 3: same image, second theme
        f"bad/sku,{url},default,\n"  # line 4
        f"C-{unique},{url},no_such_theme,\n"  # line 5
        f"D-{unique},ftp://x.test/a.jpg,default,\n"  # line 6
        f"B-{unique},{url_b},default,\n"  # line 7: no hash, the downloader creates the job
    ).encode()
    response = await client.post(BATCH_PATH, content=csv, headers=signed(csv, "text/csv"))
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["rows"], body["accepted"], body["rejected"]) == (6, 3, 3)
    by_line = {row["line"]: row for row in body["results"]}
    assert [by_line[n]["status"] for n in range(2, 8)] == [
        "accepted", "accepted", "rejected", "rejected", "rejected", "accepted",
    ]  # fmt: skip
    assert "sku" in by_line[4]["errors"][0] and "separator" in by_line[4]["errors"][0]
    assert "unknown theme 'no_such_theme'" in by_line[5]["errors"][0]
    assert "'ftp'" in by_line[6]["errors"][0]
    assert len(by_line[2]["job_ids"]) == 1 and len(by_line[3]["job_ids"]) == 1
    assert by_line[7]["job_ids"] == []

    jobs = await wait_jobs(
        {"sku": {"$in": [f"A-{unique}", f"B-{unique}"]}},
        lambda js: len(js) == 3 and all(j.s3_original_key for j in js),
    )
    assert {(j.sku, j.theme) for j in jobs} == {
        (f"A-{unique}", "default"), (f"A-{unique}", "warm_paper"), (f"B-{unique}", "default"),
    }  # fmt: skip
    assert images.hits[f"/{unique}/batch-a.jpg"] == 1  # two themes, one download
    rejected = await db.webhook_events.count_documents(
        {"_id": {"$regex": f"^{body['batch_id']}-line"}, "outcome": "rejected"}
    )
    assert rejected == 3

    again = await client.post(BATCH_PATH, content=csv, headers=signed(csv, "text/csv"))
    again_rows = {row["line"]: row for row in again.json()["results"]}
    assert again_rows[2]["status"] == "duplicate"
    assert again_rows[2]["job_ids"] == by_line[2]["job_ids"]


async def test_multipart_upload(client, images: LocalHttpServer, make_jpeg, unique: str) -> None:  # type: ignore[no-untyped-def]
    url = images.image(f"/{unique}/mp.jpg", make_jpeg((1, 1, 1)))
    csv = f"sku,image_url,theme\nMP-{unique},{url},default\n".encode()
    boundary = "plinthboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="rows.csv"'
            f"\r\nContent-Type: text/csv\r\n\r\n"
        ).encode()
        + csv
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = await client.post(
        BATCH_PATH, content=body,
        headers=signed(body, f"multipart/form-data; boundary={boundary}"),
    )  # fmt: skip
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 1


async def test_batch_auth_and_whole_file_refusals(client) -> None:  # type: ignore[no-untyped-def]
    csv = b"sku,image_url,theme\nA,http://a.test/x.jpg,default\n"
    unsigned = await client.post(BATCH_PATH, content=csv, headers={"content-type": "text/csv"})
    assert unsigned.status_code == 401
    wrong = await client.post(BATCH_PATH, content=csv, headers=signed(csv, "text/csv", "nope"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_signature"

    no_header = b"A,http://a.test/x.jpg,default\n"
    refused = await client.post(BATCH_PATH, content=no_header,
                                headers=signed(no_header, "text/csv"))  # fmt: skip
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_csv"

    all_bad = b"sku,image_url,theme\na/b,http://a.test/x.jpg,default\n"
    rejected = await client.post(BATCH_PATH, content=all_bad, headers=signed(all_bad, "text/csv"))
    assert rejected.status_code == 422
    assert rejected.json()["results"][0]["line"] == 2
