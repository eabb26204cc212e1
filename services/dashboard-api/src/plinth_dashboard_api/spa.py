"""Serving the built web dashboard: real files from ``ui/dist``, ``index.html`` for every other
non-API path so that client-side routes (``/jobs/abc``) survive a reload."""

from __future__ import annotations

from pathlib import Path

from litestar import Router, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File, Response

_NOT_BUILT = (
    "<!doctype html><title>Plinth dashboard</title><p>The web dashboard is not built. "
    "Run <code>services/dashboard-api/ui/setup.sh</code>; "
    "the API is at <a href=/schema>/schema</a>."
)
_RESERVED = ("api/", "schema", "health")


def _file(path: Path, cache_control: str) -> File:
    # the filename is what the media type is guessed from (text/html, text/javascript, ...)
    return File(
        path,
        filename=path.name,
        content_disposition_type="inline",
        headers={"Cache-Control": cache_control},
    )


def spa_router(ui_dir: Path) -> Router:
    root = ui_dir.resolve()

    @get("/", include_in_schema=False, sync_to_thread=False)
    def index() -> File | Response[str]:
        return serve_path("")

    @get("/{path:path}", include_in_schema=False, sync_to_thread=False)
    def serve(path: FromPath[str]) -> File | Response[str]:
        return serve_path(path)

    def serve_path(path: str) -> File | Response[str]:
        relative = path.lstrip("/")
        if relative.startswith(_RESERVED):
            raise NotFoundException(f"no route {path!r}")
        index = root / "index.html"
        if relative:
            candidate = (root / relative).resolve()
            # resolve() then a containment check: '..' in a path cannot leave the build folder
            if candidate.is_relative_to(root) and candidate.is_file():
                cache = (
                    "public, max-age=31536000, immutable"
                    if relative.startswith("assets/")  # vite's content-hashed files
                    else "no-cache"
                )
                return _file(candidate, cache)
            if relative.startswith("assets/"):
                raise NotFoundException(f"no asset {path!r}")
        if not index.is_file():
            return Response(_NOT_BUILT, media_type="text/html", status_code=503)
        return _file(index, "no-cache")

    return Router(path="/", route_handlers=[index, serve])
