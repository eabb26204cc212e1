"""The fake Shopify's contract: what it accepts and refuses, over HTTP, as Shopify would."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from plinth_testkit.fakes.shopify import DEFAULT_VERSION, FakeShopify

# One client for the module: creating an httpx client (its SSL context) costs ~0.2 s each time.
HTTP = httpx.Client()

QUERY = 'query Q { productVariants(first: 1, query: "sku:MUG-1") { nodes { id sku } } }'


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify() as server:
        server.add_product("Blue Mug", ["MUG-1"])
        yield server


def post(
    fake: FakeShopify, body: object, *, token: str | None = None, version: str = ""
) -> httpx.Response:
    return HTTP.post(
        f"{fake.admin_base_url}/{version or DEFAULT_VERSION}/graphql.json",
        json=body,
        headers={"X-Shopify-Access-Token": token if token is not None else fake.access_token},
    )


def test_missing_or_wrong_token_is_401_with_shopifys_body(fake: FakeShopify) -> None:
    for token in ("", "shpat_nope"):
        response = post(fake, {"query": QUERY}, token=token)
        assert response.status_code == 401
        assert "Invalid API key or access token" in response.json()["errors"]
    assert fake.served == []


def test_unserved_version_is_404(fake: FakeShopify) -> None:
    assert post(fake, {"query": QUERY}, version="2020-01").status_code == 404


def test_every_answer_carries_the_cost(fake: FakeShopify) -> None:
    body = post(fake, {"query": QUERY}).json()
    assert body["data"]["productVariants"]["nodes"][0]["sku"] == "MUG-1"
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 1 * 1
    assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}


def test_unknown_fields_and_bad_variables_are_graphql_errors(fake: FakeShopify) -> None:
    body = post(fake, {"query": "{ shop { name } }"}).json()
    assert body["errors"][0]["message"] == "Field 'shop' doesn't exist on type 'QueryRoot'"
    assert body["errors"][0]["extensions"]["code"] == "undefinedField"
    deprecated = 'mutation { productCreateMedia(productId: "x", media: []) { media { id } } }'
    assert "productCreateMedia" in post(fake, {"query": deprecated}).json()["errors"][0]["message"]
    typed = "query V($n: Int!) { productVariants(first: $n) { nodes { id } } }"
    body = post(fake, {"query": typed, "variables": {"n": "ten"}}).json()
    assert "errors" in body and "data" not in body


def test_connections_need_first_or_last(fake: FakeShopify) -> None:
    body = post(fake, {"query": "{ productVariants { nodes { id } } }"}).json()
    assert "first or last" in body["errors"][0]["message"]


def test_an_empty_bucket_throttles_like_shopify(fake: FakeShopify) -> None:
    fake.drain_bucket(leave=1)
    fake.restore_rate = 0.001
    body = post(fake, {"query": QUERY}).json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert body["extensions"]["cost"]["actualQueryCost"] is None
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 1
    assert fake.throttled_count() == 1


def test_a_query_over_the_single_query_limit_is_refused(fake: FakeShopify) -> None:
    huge = (
        "{ productVariants(first: 250) "
        "{ nodes { product { media(first: 250) { nodes { id } } } } } }"
    )
    body = post(fake, {"query": huge}).json()
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"


def test_staged_upload_target_checks_its_signature(fake: FakeShopify) -> None:
    mutation = """mutation S($input: [StagedUploadInput!]!) {
      stagedUploadsCreate(input: $input) {
        stagedTargets { url resourceUrl parameters { name value } }
        userErrors { field message }
      }
    }"""
    item = {
        "resource": "IMAGE",
        "filename": "a.jpg",
        "mimeType": "image/jpeg",
        "httpMethod": "POST",
    }
    target = post(fake, {"query": mutation, "variables": {"input": [item]}}).json()["data"][
        "stagedUploadsCreate"
    ]["stagedTargets"][0]
    form = {p["name"]: p["value"] for p in target["parameters"]}
    forged = {**form, "x-goog-signature": "0" * 64}
    assert HTTP.post(target["url"], data=forged, files={"file": ("a.jpg", b"x")}).status_code == 403
    assert HTTP.post(target["url"], data=form, files={"file": ("a.jpg", b"x")}).status_code == 201
    not_image = {**item, "mimeType": "text/html"}
    body = post(fake, {"query": mutation, "variables": {"input": [not_image]}}).json()
    assert body["data"]["stagedUploadsCreate"]["userErrors"]


def test_inspection_endpoints(fake: FakeShopify) -> None:
    seeded = HTTP.post(f"{fake.url}/_fake/products", json={"sku": "TEE-2", "title": "Tee"})
    assert seeded.status_code == 201
    listed = HTTP.get(f"{fake.url}/_fake/media", params={"sku": "TEE-2", "theme": "marble"})
    assert listed.json() == {
        "sku": "TEE-2",
        "theme": "marble",
        "product_id": seeded.json()["product_id"],
        "media": [],
    }
    post(fake, {"query": QUERY})
    served = HTTP.get(f"{fake.url}/_fake/requests").json()["requests"]
    assert served[-1]["operation"] is None and served[-1]["root_fields"] == ["productVariants"]


def test_runs_standalone_from_the_command_line() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plinth_testkit.fakes.shopify",
            "--port",
            "0",
            "--token",
            "t",
            "--product",
            "MUG-1=Blue Mug",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        base = line.split(" on ", 1)[1].split(" ", 1)[0]
        deadline = time.monotonic() + 10
        while True:
            try:
                response = HTTP.post(
                    f"{base}/{DEFAULT_VERSION}/graphql.json",
                    json={"query": QUERY},
                    headers={"X-Shopify-Access-Token": "t"},
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert response.json()["data"]["productVariants"]["nodes"][0]["sku"] == "MUG-1"
    finally:
        process.terminate()
        process.wait(timeout=10)


APPEND = """mutation A($p: ID!, $vm: [ProductVariantAppendMediaInput!]!) {
  productVariantAppendMedia(productId: $p, variantMedia: $vm) { userErrors { code field } }
}"""
DETACH = """mutation D($p: ID!, $vm: [ProductVariantDetachMediaInput!]!) {
  productVariantDetachMedia(productId: $p, variantMedia: $vm) { userErrors { code field } }
}"""
FILE_UPDATE = """mutation F($files: [FileUpdateInput!]!) {
  fileUpdate(files: $files) { files { id alt } userErrors { code field } }
}"""


def codes(fake: FakeShopify, query: str, variables: dict[str, object], root: str) -> list[str]:
    body = post(fake, {"query": query, "variables": variables}).json()
    return [e["code"] for e in body["data"][root]["userErrors"]]


def test_variant_media_pairs_follow_shopifys_rules(fake: FakeShopify) -> None:
    product = fake.add_product("Tee", ["TEE-S", "TEE-M"])
    small, medium = product.variant_ids
    one, two = fake.add_ready_media("TEE-S"), fake.add_ready_media("TEE-S")
    other = fake.add_ready_media("MUG-1")  # on another product

    def append(*pairs: tuple[str, list[str]]) -> list[str]:
        vm = [{"variantId": v, "mediaIds": m} for v, m in pairs]
        return codes(fake, APPEND, {"p": product.id, "vm": vm}, "productVariantAppendMedia")

    assert append((small, [one.id, two.id])) == ["TOO_MANY_MEDIA_PER_INPUT_PAIR"]
    assert append((small, [one.id]), (small, [two.id])) == [
        "PRODUCT_VARIANT_SPECIFIED_MULTIPLE_TIMES"
    ]
    assert append((small, [other.id])) == ["MEDIA_DOES_NOT_EXIST_ON_PRODUCT"]
    assert append((small, [one.id])) == []
    assert append((small, [two.id])) == ["PRODUCT_VARIANT_ALREADY_HAS_MEDIA"]
    assert append((medium, [two.id])) == []
    assert fake.variant_media("TEE-S") == [one] and fake.variant_media("TEE-M") == [two]

    detach = {"p": product.id, "vm": [{"variantId": medium, "mediaIds": [one.id]}]}
    assert codes(fake, DETACH, detach, "productVariantDetachMedia") == [
        "MEDIA_IS_NOT_ATTACHED_TO_VARIANT"
    ]
    fake._delete_file(one.id)  # deleting a file clears it from the variants showing it
    assert fake.variant_media("TEE-S") == []


def test_file_update_needs_a_ready_file_and_at_most_512_characters(fake: FakeShopify) -> None:
    ready = fake.add_ready_media("MUG-1", alt="old")
    processing = fake.add_ready_media("MUG-1")
    processing.status = "PROCESSING"

    def update(media_id: str, alt: str) -> list[str]:
        return codes(fake, FILE_UPDATE, {"files": [{"id": media_id, "alt": alt}]}, "fileUpdate")

    assert update(processing.id, "x") == ["FILE_LOCKED"]
    assert update(ready.id, "x" * 513) == ["ALT_VALUE_LIMIT_EXCEEDED"]
    assert update("gid://shopify/MediaImage/1", "x") == ["FILE_DOES_NOT_EXIST"]
    assert ready.alt == "old"
    assert update(ready.id, "new") == []
    assert ready.alt == "new"
