"""Request bodies are JSON from outside: parsed with a bound on their nesting.

msgspec (Litestar's JSON decoder) recurses once per nesting level and raises ``RecursionError``
on a small body nested a few thousand deep, which Litestar answers with a 500. The depth is
checked first (:mod:`plinth.jsonlimits`), so such a body is a 400 like any malformed one.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException

from plinth.jsonlimits import check_json_depth


class BoundedJsonRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        try:
            check_json_depth(await self.body())
        except ValueError as exc:  # too deep, or not text at all
            raise ClientException(f"the request body is not acceptable JSON: {exc}") from exc
        return await super().json()
