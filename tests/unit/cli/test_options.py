"""The agentobs command's settings: flags, environment variables and their documentation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentobs.cli import build_parser, build_receiver_settings, options

README = Path(__file__).resolve().parents[3] / "README.md"


def resolve(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, environment: dict[str, str] | None = None
) -> dict[str, object]:
    for key in [key for key in os.environ if key.startswith("AGENTOBS_")]:
        monkeypatch.delenv(key)
    for key, value in (environment or {}).items():
        monkeypatch.setenv(key, value)
    parser = build_parser()
    return options.resolve(parser.parse_args(argv), parser)


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text()

    missing = [option.env for option in options.OPTIONS if f"`{option.env}`" not in text]

    assert missing == []


def test_flag_wins_over_environment_which_wins_over_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = resolve(
        ["run", "--database-url", "postgresql://flag/db", "--status-qps", "3"],
        monkeypatch,
        {"AGENTOBS_DATABASE_URL": "postgresql://env/db", "AGENTOBS_STATUS_BURST": "7"},
    )

    assert values["database_url"] == "postgresql://flag/db"
    assert values["status_qps"] == 3.0
    assert values["status_burst"] == 7
    assert values["status_interval"] == 5.0


def test_missing_database_url_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        resolve(["operator"], monkeypatch)

    assert "set --database-url or AGENTOBS_DATABASE_URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("AGENTOBS_STATUS_INTERVAL", "-1", "expected a positive number"),
        ("AGENTOBS_PORT", "70000", "expected a port from 1 to 65535"),
        ("AGENTOBS_MIGRATE_ON_START", "maybe", "expected true or false"),
        ("AGENTOBS_STATUS_QPS", "fast", "expected a number"),
    ],
)
def test_invalid_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    expected: str,
) -> None:
    with pytest.raises(SystemExit):
        resolve(
            ["run"], monkeypatch, {"AGENTOBS_DATABASE_URL": "postgresql://h/db", variable: value}
        )

    error = capsys.readouterr().err
    assert variable in error
    assert expected in error


def test_receiver_settings_take_the_command_values(monkeypatch: pytest.MonkeyPatch) -> None:
    values = resolve(
        [
            "receiver",
            "--database-url",
            "postgresql://h/db",
            "--body-limit",
            "1024",
            "--allow-unauthenticated",
            "yes",
        ],
        monkeypatch,
    )

    settings = build_receiver_settings(values)

    assert settings.body_limit_bytes == 1024
    assert settings.allow_unauthenticated is True
    assert settings.token_audience == "agentobs"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["migrate", "--database-url", "mysql://user:secret@host/db"], "scheme 'mysql'"),
        (
            ["receiver", "--database-url", "postgresql://h/db", "--sample-retention", "100"],
            "at least 86400 seconds",
        ),
        (["run", "--database-url", "postgresql://h/db", "--port", "0"], "port from 1 to 65535"),
    ],
)
def test_invalid_flag_names_the_command_and_hides_secrets(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: str,
) -> None:
    with pytest.raises(SystemExit):
        resolve(argv, monkeypatch)

    error = capsys.readouterr().err
    assert f"agentobs {argv[0]}: error:" in error
    assert expected in error
    assert "secret" not in error
