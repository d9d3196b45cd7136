"""The receiver's HTTP errors and the one JSON shape every error response has.

Every error body is `{"error": code, "message": sentence, "field": path or null}`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping


class HttpError(Exception):
    """A request failed with a known status; nothing was stored."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


def unauthenticated(code: str, message: str) -> HttpError:
    """Return a 401 error with a WWW-Authenticate header for bearer tokens."""
    return HttpError(401, code, message, headers={"WWW-Authenticate": 'Bearer realm="agentobs"'})


def forbidden(code: str, message: str, *, field: str | None = None) -> HttpError:
    """Return a 403 error."""
    return HttpError(403, code, message, field=field)


def unavailable(code: str, message: str, *, retry_after: int) -> HttpError:
    """Return a 503 error with a Retry-After header."""
    return HttpError(503, code, message, headers={"Retry-After": str(retry_after)})


def error_body(code: str, message: str, field: str | None) -> bytes:
    """Encode the JSON body of an error response."""
    return json.dumps({"error": code, "message": message, "field": field}).encode()
