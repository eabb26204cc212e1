"""Send a Schemathesis case through a Litestar/httpx test client (both services' fuzz tests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

HeaderHook = Callable[[dict[str, str], bytes | None], None]
"""Adds what the service needs to ``headers`` (an API key, a signature over the body)."""


def send_case(client: Any, case: Any, add_headers: HeaderHook | None = None) -> Any:
    """The case as one request on ``client``: its body serialised as the bytes the service will
    read, ``add_headers`` given the chance to sign or authorise them first."""
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url))
    headers = {str(k): str(v) for k, v in (kwargs.pop("headers", None) or {}).items()}
    content: bytes | None = None
    if "json" in kwargs:
        content = json.dumps(kwargs.pop("json")).encode()
    elif "data" in kwargs:
        data = kwargs.pop("data")
        content = data if isinstance(data, bytes) else str(data).encode()
    if add_headers is not None:
        add_headers(headers, content)
    return client.request(
        kwargs.pop("method"),
        kwargs.pop("url"),
        params=kwargs.pop("params", None),
        headers=headers,
        cookies=kwargs.pop("cookies", None) or None,
        content=content,
    )


FUZZ_MARKS = [
    pytest.mark.stack,
    pytest.mark.timeout(120),
    # schemathesis's own strategies trip this hypothesis note; nothing of ours
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]
"""The marks of a schema-fuzz test module (``pytestmark = FUZZ_MARKS``)."""
