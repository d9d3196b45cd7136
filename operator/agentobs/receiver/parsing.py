"""Turning request bodies into validated heartbeats, with a clear error for each fault.

Checks run cheapest first: the declared size, the content type, then the size of
what actually arrives (a chunked or lying client cannot push more than the limit into
memory), UTF-8, JSON, and finally the heartbeat schema.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pydantic
from aiohttp import web

from agentobs import protocol
from agentobs.receiver.errors import HttpError

_READ_CHUNK_BYTES = 16 * 1024
_MAX_MESSAGE_LENGTH = 300


def check_declared_size(request: web.Request, limit: int) -> None:
    """Raise 413 if Content-Length announces a body larger than `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)


def check_content_type(request: web.Request) -> None:
    """Raise 415 unless the body is declared as application/json in UTF-8."""
    if request.content_type != "application/json":
        raise HttpError(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json, received {request.content_type!r}.",
        )
    charset = request.charset
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise HttpError(
            415,
            "unsupported_media_type",
            f"The body must be UTF-8, received charset {charset[:40]!r}.",
        )


async def read_body(request: web.Request, limit: int) -> bytes:
    """Read the body, raising 413 as soon as more than `limit` bytes have arrived."""
    body = bytearray()
    try:
        while chunk := await request.content.read(_READ_CHUNK_BYTES):
            body += chunk
            if len(body) > limit:
                raise _too_large(limit)
    except (aiohttp.ClientPayloadError, ConnectionError) as error:
        raise HttpError(400, "incomplete_body", "The request body ended early.") from error
    return bytes(body)


def parse_heartbeat(body: bytes, *, max_models: int) -> protocol.Heartbeat:
    """Decode and validate a heartbeat: 400 for bad UTF-8 or JSON, 422 for schema errors."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise HttpError(
            400, "invalid_utf8", f"The body is not valid UTF-8 (byte {error.start})."
        ) from None
    try:
        return protocol.Heartbeat.model_validate_json(text, context={"max_models": max_models})
    except pydantic.ValidationError as error:
        raise _schema_error(error.errors(include_url=False, include_input=False)) from None


def field_path(location: tuple[int | str, ...]) -> str | None:
    """Format a pydantic error location as a path such as `usage[3].model`."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or None


def _schema_error(details: list[Any]) -> HttpError:
    first = details[0]
    if first["type"] == "json_invalid":
        reason = str(first["msg"]).removeprefix("Invalid JSON: ")
        return HttpError(400, "invalid_json", _sentence(f"The body is not valid JSON: {reason}"))
    path = field_path(tuple(first["loc"]))
    reason = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        reason = "this field is not part of the heartbeat schema"
    subject = f"Field {path}" if path else "The heartbeat"
    more = f" ({len(details) - 1} more errors)" if len(details) > 1 else ""
    return HttpError(
        422, "invalid_field", _sentence(f"{subject} is invalid: {reason}{more}"), field=path
    )


def _sentence(text: str) -> str:
    if len(text) > _MAX_MESSAGE_LENGTH:
        text = text[: _MAX_MESSAGE_LENGTH - 3] + "..."
    return text if text.endswith(".") else text + "."


def _too_large(limit: int) -> HttpError:
    return HttpError(413, "body_too_large", f"The request body exceeds the limit of {limit} bytes.")
