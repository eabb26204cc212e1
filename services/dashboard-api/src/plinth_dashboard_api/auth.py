"""API-key authentication and role guards for every ``/api`` route.

The key comes in ``X-API-Key`` or ``Authorization: Bearer <key>``. A missing or unknown key is a
401, a known key with too small a role a 403; both carry a JSON reason and are logged (with the
client address and a fingerprint of the key, never the key).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from plinth_dashboard_api.resources import current_resources
from plinth_dashboard_api.settings import DashboardSettings, Role

log = logging.getLogger("plinth.dashboard.auth")

_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2}


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role


def presented_key(connection: ASGIConnection) -> str | None:  # type: ignore[type-arg]
    key = connection.headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = connection.headers.get("authorization", "")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    return None


def authenticate(connection: ASGIConnection, settings: DashboardSettings) -> Principal:  # type: ignore[type-arg]
    client = connection.client.host if connection.client else "unknown"
    key = presented_key(connection)
    if key is None:
        log.warning("auth failed: no API key from %s for %s", client, connection.url.path)
        raise NotAuthorizedException(
            "an API key is required: send it in X-API-Key or Authorization: Bearer",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = settings.principal_for(key)
    if found is None:
        fingerprint = hashlib.sha256(key.encode()).hexdigest()[:8]
        log.warning(
            "auth failed: unknown API key (sha256 %s…) from %s for %s",
            fingerprint,
            client,
            connection.url.path,
        )
        raise NotAuthorizedException(
            "the API key is not valid", headers={"WWW-Authenticate": "Bearer"}
        )
    return Principal(*found)


def _require(role: Role):  # type: ignore[no-untyped-def]
    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
        settings: DashboardSettings = current_resources(connection.app).settings
        principal = authenticate(connection, settings)
        if _RANK[principal.role] < _RANK[role]:
            log.warning(
                "auth refused: %s (%s) may not %s %s",
                principal.name,
                principal.role.value,
                connection.scope.get("method", "?"),
                connection.url.path,
            )
            raise PermissionDeniedException(
                f"role {principal.role.value!r} may not do this; it needs {role.value!r}"
            )
        connection.state.principal = principal

    guard.__name__ = f"require_{role.value}"
    return guard


require_viewer = _require(Role.VIEWER)
require_operator = _require(Role.OPERATOR)


def principal_of(connection: ASGIConnection) -> Principal:  # type: ignore[type-arg]
    principal: Principal = connection.state.principal
    return principal
