"""Settings reject impossible values; Authorization headers must carry a bearer token."""

from __future__ import annotations

import pytest

from agentobs.receiver.auth import bearer_token
from agentobs.receiver.errors import HttpError
from agentobs.settings import ReceiverSettings


def test_defaults_match_the_protocol() -> None:
    settings = ReceiverSettings()

    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.body_limit_bytes == 65536
    assert settings.max_models == 256
    assert settings.token_audience == "agentobs"
    assert settings.allow_unauthenticated is False


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"body_limit_bytes": 0}, "body_limit_bytes must be positive, received 0"),
        ({"port": 70000}, "port must be from 0 to 65535"),
        ({"sample_retention_seconds": 3600}, "at least 86400"),
        ({"token_cache_ttl_seconds": -1}, "must not be negative"),
    ],
)
def test_impossible_settings_are_rejected(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReceiverSettings(**changes)  # type: ignore[arg-type]


def test_bearer_token_is_extracted() -> None:
    assert bearer_token("Bearer abc.def") == "abc.def"
    assert bearer_token("bearer   abc ") == "abc"


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_token"),
        ("", "missing_token"),
        ("Basic dXNlcg==", "invalid_authorization"),
        ("Bearer", "invalid_authorization"),
        ("Bearer " + "a" * 20000, "invalid_token"),
    ],
)
def test_bad_authorization_header_is_unauthorized(header: str | None, code: str) -> None:
    with pytest.raises(HttpError) as caught:
        bearer_token(header)

    assert caught.value.status == 401
    assert caught.value.code == code
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer")
