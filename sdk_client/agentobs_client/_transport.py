"""One heartbeat POST over urllib, classified as accepted, retry or rejected.

The receiver responds 200 when the heartbeat is stored, and 429 or 5xx when it
cannot store it now, which is worth a retry after Retry-After. Another 4xx
means the heartbeat or its token is invalid, so a retry would get the same
response. A
network error or a timeout is worth a retry: the receiver may or may not have
stored the heartbeat, and cumulative counters make both cases safe.
"""

from __future__ import annotations

import dataclasses
import enum
import http.client
import json
import math
import urllib.error
import urllib.request
from typing import Final

__all__ = ["Outcome", "Result", "post_heartbeat"]

USER_AGENT: Final = "agentobs-client/0.1.0"

# A misconfigured proxy could ask for hours; the counters are safe, but the
# status would go stale, so a longer Retry-After is shortened to this.
MAX_RETRY_AFTER: Final = 300.0

# Error bodies are read and logged only this far.
_MAX_ERROR_BODY: Final = 4096
_MAX_REASON_LENGTH: Final = 300


class Outcome(enum.Enum):
    """Next step of the reporter after a POST."""

    ACCEPTED = "accepted"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclasses.dataclass(frozen=True)
class Result:
    """The outcome of one POST, with what to log about it.

    `reason` is the receiver's error code, or the exception's class name for a
    network error. `message` is the receiver's message or the exception text,
    already truncated. `retry_after` is the Retry-After header in seconds.
    """

    outcome: Outcome
    status: int | None = None
    reason: str = ""
    message: str = ""
    field: str | None = None
    retry_after: float | None = None


def post_heartbeat(
    opener: urllib.request.OpenerDirector,
    url: str,
    body: bytes,
    *,
    token: str | None,
    timeout: float,
) -> Result:
    """POST one encoded heartbeat and classify the response. Never raises OSError."""
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", USER_AGENT)
    if token:
        request.add_header("Authorization", f"Bearer {token}")

    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(_MAX_ERROR_BODY)
            status = response.status
    except urllib.error.HTTPError as error:
        with error:
            return _classify_error_response(error)
    except (OSError, http.client.HTTPException) as error:
        # URLError (refused, DNS), TimeoutError and broken connections.
        return Result(
            Outcome.RETRY,
            reason=type(error).__name__,
            message=_truncate(str(error)),
        )

    if 200 <= status < 300:
        return Result(Outcome.ACCEPTED, status=status)
    return Result(Outcome.REJECTED, status=status, reason="unexpected_status")


def _classify_error_response(error: urllib.error.HTTPError) -> Result:
    status = error.code
    try:
        raw = error.read(_MAX_ERROR_BODY)
    except (OSError, http.client.HTTPException):
        raw = b""
    reason, message, field = _parse_error_body(raw)

    if status == 429 or status >= 500:
        return Result(
            Outcome.RETRY,
            status=status,
            reason=reason,
            message=message,
            field=field,
            retry_after=_parse_retry_after(error.headers.get("Retry-After")),
        )
    return Result(Outcome.REJECTED, status=status, reason=reason, message=message, field=field)


def _parse_error_body(raw: bytes) -> tuple[str, str, str | None]:
    # The receiver's error shape is {"error", "message", "field"}. A proxy in
    # between may respond with anything, which is logged as a short text.
    try:
        data = json.loads(raw)
    except ValueError:
        return "http_error", _truncate(raw.decode("utf-8", "replace")), None
    if not isinstance(data, dict):
        return "http_error", _truncate(str(data)), None

    reason = data.get("error")
    message = data.get("message")
    field = data.get("field")
    return (
        _truncate(reason) if isinstance(reason, str) else "http_error",
        _truncate(message) if isinstance(message, str) else "",
        _truncate(field) if isinstance(field, str) else None,
    )


def _parse_retry_after(value: str | None) -> float | None:
    # Only the delay-seconds form; an HTTP date falls back to the backoff.
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _truncate(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= _MAX_REASON_LENGTH:
        return text
    return text[: _MAX_REASON_LENGTH - 3] + "..."
