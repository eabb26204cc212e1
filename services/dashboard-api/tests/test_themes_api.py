"""``/api/themes`` against the local stack: the seeded packaged themes, create, edit (versions),
duplicate, archive/restore, validation errors that name the field, roles, audit, and the preview
rendered by the real renderer."""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

import numpy as np
import pytest
from PIL import Image

from plinth.adapters.mongo import Database
from plinth.imaging.backgrounds import list_themes, load_theme
from plinth.imaging.backgrounds.model import Theme

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session")]

Client = Any  # litestar.testing.AsyncTestClient


def solid(name: str, colour: str = "#3366cc", **extra: Any) -> dict[str, Any]:
    return {
        "name": name, "title": f"Solid {name}", "prompt": "a plain backdrop",
        "background": {"kind": "solid", "colour": colour}, "variants": 2, **extra,
    }  # fmt: skip


def fresh(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def decode(data_url: str) -> Image.Image:
    prefix = "data:image/jpeg;base64,"
    assert data_url.startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(data_url[len(prefix):])))
    assert image.format == "JPEG"
    return image.convert("RGB")


async def test_the_packaged_themes_are_seeded_at_start(
    client: Client, viewer: dict[str, str]
) -> None:
    response = await client.get("/api/themes", headers=viewer)
    assert response.status_code == 200
    items = {item["name"]: item for item in response.json()["items"]}
    assert set(list_themes()) <= set(items)
    default = items["default"]
    assert default["status"] == "active" and default["source"] == "packaged"
    assert default["version"] >= 1
    detail = (await client.get("/api/themes/default", headers=viewer)).json()
    assert detail["versions"][0]["version"] == 1
    first = await client.get("/api/themes/default/versions/1", headers=viewer)
    assert Theme.model_validate(first.json()["theme"]) == load_theme("default")


async def test_create_edit_and_read_versions(
    client: Client, operator: dict[str, str], viewer: dict[str, str], stack_db: Database
) -> None:
    name = fresh()
    created = await client.post("/api/themes", json={"theme": solid(name)}, headers=operator)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["version"], body["status"]) == (name, 1, "active")
    assert body["created_by"] == "tester"

    again = await client.post("/api/themes", json={"theme": solid(name)}, headers=operator)
    assert again.status_code == 409 and "exists already" in again.json()["detail"]

    edited = await client.put(
        f"/api/themes/{name}", json={"theme": solid(name, "#cc3366"), "note": "pinker"},
        headers=operator,
    )  # fmt: skip
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2
    assert [v["version"] for v in edited.json()["versions"]] == [1, 2]
    unchanged = await client.put(
        f"/api/themes/{name}", json={"theme": solid(name, "#cc3366")}, headers=operator
    )
    assert unchanged.json()["version"] == 2, "the same definition makes no new version"

    v1 = (await client.get(f"/api/themes/{name}/versions/1", headers=viewer)).json()
    v2 = (await client.get(f"/api/themes/{name}/versions/2", headers=viewer)).json()
    assert v1["theme"]["background"]["colour"] == "#3366cc" and v1["current"] is False
    assert v2["theme"]["background"]["colour"] == "#cc3366" and v2["note"] == "pinker"
    missing = await client.get(f"/api/themes/{name}/versions/3", headers=viewer)
    assert missing.status_code == 404

    actions = [
        (e["action"], e["details"]["version"])
        async for e in stack_db.audit.find({"details.theme": name}).sort("at", 1)
    ]
    assert actions == [("theme.create", 1), ("theme.update", 2)]


async def test_invalid_themes_are_422_naming_the_field(
    client: Client, operator: dict[str, str]
) -> None:
    name = fresh()
    bad = solid(name, "blue")
    response = await client.post("/api/themes", json={"theme": bad}, headers=operator)
    assert response.status_code == 422
    problems = response.json()["extra"]["problems"]
    assert problems[0]["field"] == "theme.background.colour"
    assert "theme.background.colour" in response.json()["detail"]

    response = await client.post("/api/themes", json={"theme": {**solid(name), "variants": 99,
                                                                "extra": 1}}, headers=operator)
    fields = {p["field"] for p in response.json()["extra"]["problems"]}
    assert response.status_code == 422 and {"theme.variants", "theme.extra"} <= fields

    response = await client.post("/api/themes", json={"them": solid(name)}, headers=operator)
    assert response.status_code == 422
    assert response.json()["extra"]["problems"] == [{"field": "theme", "message": "is required"}]

    await client.post("/api/themes", json={"theme": solid(name)}, headers=operator)
    renamed = await client.put(
        f"/api/themes/{name}", json={"theme": solid(fresh())}, headers=operator
    )
    assert renamed.status_code == 422
    assert renamed.json()["extra"]["problems"][0]["field"] == "theme.name"
    assert (await client.get("/api/themes/nope-nope", headers=operator)).status_code == 404
    assert (await client.get("/api/themes/Bad%20Name", headers=operator)).status_code == 404


async def test_duplicate_archive_and_restore(
    client: Client, operator: dict[str, str], viewer: dict[str, str], stack_db: Database
) -> None:
    copy = fresh("copy")
    response = await client.post(
        "/api/themes/warm_paper/duplicate", json={"name": copy}, headers=operator
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["version"] == 1 and body["theme"]["name"] == copy
    assert body["theme"]["title"].endswith("(copy)")
    assert body["theme"]["background"] == load_theme("warm_paper").model_dump(mode="json")[
        "background"
    ]
    assert body["versions"][0]["note"].startswith("duplicated from warm_paper")
    taken = await client.post(
        "/api/themes/warm_paper/duplicate", json={"name": copy}, headers=operator
    )
    assert taken.status_code == 409
    bad = await client.post(
        "/api/themes/warm_paper/duplicate", json={"name": "No Spaces"}, headers=operator
    )
    assert bad.status_code == 422 and bad.json()["extra"]["problems"][0]["field"] == "name"

    archived = await client.post(f"/api/themes/{copy}/archive", headers=operator)
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    twice = await client.post(f"/api/themes/{copy}/archive", headers=operator)
    assert twice.status_code == 409
    listed = [i["name"] for i in (await client.get("/api/themes", headers=viewer)).json()["items"]]
    assert copy not in listed
    everything = await client.get("/api/themes?include_archived=true", headers=viewer)
    assert {"name": copy, "status": "archived"}.items() <= next(
        i for i in everything.json()["items"] if i["name"] == copy
    ).items()

    restored = await client.post(f"/api/themes/{copy}/restore", headers=operator)
    assert restored.status_code == 200 and restored.json()["status"] == "active"
    actions = [e["action"] async for e in stack_db.audit.find({"details.theme": copy})]
    assert sorted(actions) == ["theme.archive", "theme.duplicate", "theme.restore"]


async def test_a_viewer_reads_but_cannot_change_themes(
    client: Client, viewer: dict[str, str]
) -> None:
    assert (await client.get("/api/themes")).status_code == 401
    name = fresh()
    for method, path, body in (
        ("POST", "/api/themes", {"theme": solid(name)}),
        ("PUT", "/api/themes/default", {"theme": solid("default")}),
        ("POST", "/api/themes/default/duplicate", {"name": name}),
        ("POST", "/api/themes/default/archive", None),
        ("POST", "/api/themes/default/restore", None),
    ):
        response = await client.request(method, path, json=body, headers=viewer)
        assert response.status_code == 403, (method, path)


async def test_the_preview_renders_every_variant_with_the_product_and_its_shadow(
    client: Client, viewer: dict[str, str]
) -> None:
    theme = solid("preview-me", "#2060a0", variants=3)
    theme["variation"] = {"hue_deg": 30.0, "lightness": 0.1, "light_shift": 0.0}
    theme["noise"] = None
    response = await client.post(
        "/api/themes/preview", json={"theme": theme, "size": 256}, headers=viewer
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [v["index"] for v in body["variants"]] == [0, 1, 2]
    images = [np.asarray(decode(v["image"])).astype(int) for v in body["variants"]]
    assert all(image.shape == (256, 256, 3) for image in images)
    first = images[0]
    corner = first[:20, :20].reshape(-1, 3).mean(axis=0)
    assert np.abs(corner - [0x20, 0x60, 0xA0]).max() < 12, "variant 0 is the authored colour"
    centre = first[96:160, 112:144].reshape(-1, 3).mean(axis=0)
    assert np.abs(centre - corner).max() > 40, "the sample product sits in the middle"
    assert np.abs(images[1][:20, :20].mean(axis=(0, 1)) - corner).max() > 3, "variants differ"

    # The shadow: darker than the backdrop just under the product, on a floor placement.
    floor = {**solid("preview-floor", "#e0e0e0", variants=1), "placement": "floor",
             "noise": None, "shadow": {"opacity": 0.6, "blur": 0.02}}  # fmt: skip
    with_shadow = (await client.post("/api/themes/preview", json={"theme": floor, "size": 256},
                                     headers=viewer)).json()  # fmt: skip
    floor["shadow"] = {"opacity": 0.0, "contact_strength": 0.0}
    without = (await client.post("/api/themes/preview", json={"theme": floor, "size": 256},
                                 headers=viewer)).json()  # fmt: skip
    a = np.asarray(decode(with_shadow["variants"][0]["image"])).astype(int).sum(axis=2)
    b = np.asarray(decode(without["variants"][0]["image"])).astype(int).sum(axis=2)
    assert (b - a).max() > 30, "the theme's shadow is drawn"

    too_big = await client.post(
        "/api/themes/preview", json={"theme": theme, "size": 4000}, headers=viewer
    )
    assert too_big.status_code == 422 and too_big.json()["extra"]["problems"][0]["field"] == "size"
    invalid = await client.post(
        "/api/themes/preview", json={"theme": {**theme, "variants": 0}}, headers=viewer
    )
    assert invalid.status_code == 422
    assert invalid.json()["extra"]["problems"][0]["field"] == "theme.variants"
