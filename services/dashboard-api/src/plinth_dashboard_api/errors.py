"""HTTP errors the API raises beyond Litestar's own; all render as ``{status_code, detail}``."""

from __future__ import annotations

from litestar.exceptions import ClientException


class ConflictException(ClientException):
    """The job is in a state where the requested action makes no sense (409)."""

    status_code = 409
