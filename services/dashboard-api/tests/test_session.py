"""``GET /api/me``: the web dashboard asks it which buttons the key's role may use."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.stack]


async def test_me_names_the_key_and_its_role(
    client: Any, operator: dict[str, str], viewer: dict[str, str]
) -> None:
    response = await client.get("/api/me", headers=operator)
    assert response.status_code == 200
    assert response.json() == {"name": "tester", "role": "operator"}
    response = await client.get("/api/me", headers=viewer)
    assert response.status_code == 200
    assert response.json()["role"] == "viewer"
    response = await client.get("/api/me")
    assert response.status_code == 401
    assert "API key" in response.json()["detail"]
