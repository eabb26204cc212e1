"""``GET /api/me``: who the presented API key belongs to, so that the web dashboard can disable
what the key's role may not do (the API refuses it either way)."""

from __future__ import annotations

from litestar import Request, get

from plinth_dashboard_api.auth import principal_of, require_viewer


@get("/api/me", guards=[require_viewer], summary="The name and role of the presented API key",
     tags=["session"], sync_to_thread=False)
def me(request: Request) -> dict[str, str]:  # type: ignore[type-arg]
    principal = principal_of(request)
    return {"name": principal.name, "role": principal.role.value}
