"""Static token files map tokens to namespaces and are reloaded when they change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentobs.receiver.static_tokens import StaticGrant, StaticTokenFileError, StaticTokens


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_both_entry_forms_are_read(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text("token-a: research\ntoken-b: {namespace: support, serviceAccount: bot}\n")

    tokens = StaticTokens(path)

    assert tokens.lookup("token-a") == StaticGrant("research", None)
    assert tokens.lookup("token-b") == StaticGrant("support", "bot")
    assert tokens.lookup("token-c") is None


def test_json_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text('{"token-a": {"namespace": "research"}}')

    assert StaticTokens(path).lookup("token-a") == StaticGrant("research", None)


def test_changed_file_is_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text("token-a: research\n")
    clock = Clock()
    tokens = StaticTokens(path, clock=clock)

    path.write_text("token-b: research\n")
    os.utime(path, ns=(0, 10**18))
    clock.now += 2

    assert tokens.lookup("token-a") is None
    assert tokens.lookup("token-b") == StaticGrant("research", None)


def test_broken_update_keeps_previous_tokens(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text("token-a: research\n")
    clock = Clock()
    tokens = StaticTokens(path, clock=clock)

    path.write_text("token-a: [unclosed\n")
    os.utime(path, ns=(0, 10**18))
    clock.now += 2

    assert tokens.lookup("token-a") == StaticGrant("research", None)


@pytest.mark.parametrize(
    "content",
    ["- token-a\n", "token-a: 5\n", "token-a: {serviceAccount: bot}\n", "s3cret: [unclosed\n"],
)
def test_invalid_file_error_hides_tokens(tmp_path: Path, content: str) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(content)

    with pytest.raises(StaticTokenFileError) as caught:
        StaticTokens(path)

    assert "s3cret" not in str(caught.value)
    assert "token-a" not in str(caught.value)


def test_missing_file_is_rejected_at_start(tmp_path: Path) -> None:
    with pytest.raises(StaticTokenFileError, match="unusable"):
        StaticTokens(tmp_path / "absent.yaml")
