"""Reporter configuration: keyword arguments, AGENTOBS_* variables and errors."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from agentobs_client import ConfigurationError, Reporter, UsageLedger

VALID_ENVIRONMENT = {
    "AGENTOBS_URL": "http://127.0.0.1:9/",
    "AGENTOBS_AGENT_NAME": "planner",
    "AGENTOBS_NAMESPACE": "research",
}


def build(environ: dict[str, str], **arguments: Any) -> Reporter:
    """Build a reporter that is closed at once; only its configuration matters."""
    reporter = Reporter(
        UsageLedger(),
        environ=environ,
        handle_sigterm=False,
        namespace_file="/nonexistent/namespace",
        **arguments,
    )
    reporter.close(timeout=0.01)
    return reporter


def test_environment_configures_the_reporter() -> None:
    environ = {**VALID_ENVIRONMENT, "AGENTOBS_INTERVAL": "2.5", "AGENTOBS_TOKEN": "t0ken"}

    config = build(environ).config

    assert config.heartbeat_url == "http://127.0.0.1:9/v1/heartbeats"
    assert config.agent == "planner"
    assert config.namespace == "research"
    assert config.interval == 2.5
    assert config.token == "t0ken"


def test_keyword_arguments_win_over_environment() -> None:
    config = build(
        VALID_ENVIRONMENT,
        url="https://127.0.0.1:8443",
        agent_name="triage-bot",
        namespace="support",
        interval=30,
    ).config

    assert config.heartbeat_url == "https://127.0.0.1:8443/v1/heartbeats"
    assert config.agent == "triage-bot"
    assert config.namespace == "support"
    assert config.interval == 30.0


def test_interval_defaults_to_fifteen_seconds() -> None:
    assert build(VALID_ENVIRONMENT).config.interval == 15.0


def test_namespace_comes_from_the_service_account_file(tmp_path: pathlib.Path) -> None:
    namespace_file = tmp_path / "namespace"
    namespace_file.write_text("research\n")
    environ = {
        key: value for key, value in VALID_ENVIRONMENT.items() if key != "AGENTOBS_NAMESPACE"
    }

    reporter = Reporter(
        UsageLedger(), environ=environ, handle_sigterm=False, namespace_file=str(namespace_file)
    )
    reporter.close(timeout=0.01)

    assert reporter.config.namespace == "research"


def test_token_file_is_kept_beside_a_static_token() -> None:
    environ = {**VALID_ENVIRONMENT, "AGENTOBS_TOKEN_FILE": "/var/run/secrets/agentobs/token"}

    config = build(environ, token="static").config

    assert config.token_file == "/var/run/secrets/agentobs/token"
    assert "static" not in repr(config)


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("AGENTOBS_URL", "set AGENTOBS_URL"),
        ("AGENTOBS_AGENT_NAME", "set AGENTOBS_AGENT_NAME"),
        ("AGENTOBS_NAMESPACE", "set AGENTOBS_NAMESPACE"),
    ],
)
def test_missing_setting_names_the_variable(missing: str, message: str) -> None:
    environ = {key: value for key, value in VALID_ENVIRONMENT.items() if key != missing}

    with pytest.raises(ConfigurationError, match=message) as raised:
        build(environ)

    assert raised.value.variable == missing
    assert isinstance(raised.value, ValueError)


def test_missing_url_shows_the_chart_service_url() -> None:
    """The example is the URL of the Helm release `agentobs` in namespace `agentobs`."""
    environ = {key: value for key, value in VALID_ENVIRONMENT.items() if key != "AGENTOBS_URL"}

    with pytest.raises(ConfigurationError) as raised:
        build(environ)

    assert "http://agentobs.agentobs.svc:8080" in str(raised.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AGENTOBS_URL", "agentobs:8080"),
        ("AGENTOBS_URL", "ftp://agentobs:21"),
        ("AGENTOBS_URL", "http://"),
        ("AGENTOBS_AGENT_NAME", "Planner"),
        ("AGENTOBS_AGENT_NAME", "planner_1"),
        ("AGENTOBS_AGENT_NAME", "p" * 254),
        ("AGENTOBS_NAMESPACE", "Research"),
        ("AGENTOBS_NAMESPACE", "r.d"),
        ("AGENTOBS_NAMESPACE", "n" * 64),
        ("AGENTOBS_INTERVAL", "soon"),
        ("AGENTOBS_INTERVAL", "0"),
        ("AGENTOBS_INTERVAL", "-5"),
        ("AGENTOBS_INTERVAL", "nan"),
        ("AGENTOBS_INTERVAL", "inf"),
    ],
)
def test_invalid_setting_names_the_variable(variable: str, value: str) -> None:
    environ = {**VALID_ENVIRONMENT, variable: value}

    with pytest.raises(ConfigurationError, match=variable) as raised:
        build(environ)

    assert raised.value.variable == variable


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("timeout", 0),
        ("timeout", -1.0),
        ("backoff_initial", True),
        ("backoff_max", "1"),
        ("shutdown_timeout", float("nan")),
        ("jitter", 1.5),
        ("jitter", -0.1),
    ],
)
def test_invalid_tuning_argument_is_rejected_by_name(argument: str, value: Any) -> None:
    with pytest.raises(ValueError, match=argument):
        build(VALID_ENVIRONMENT, **{argument: value})


def test_ledger_must_be_a_usage_ledger() -> None:
    with pytest.raises(TypeError, match="UsageLedger"):
        Reporter({}, environ=VALID_ENVIRONMENT, handle_sigterm=False)  # type: ignore[arg-type]


def test_url_with_credentials_is_rejected_without_echoing_them() -> None:
    environ = {**VALID_ENVIRONMENT, "AGENTOBS_URL": "http://user:s3cret@agentobs.agentobs.svc:8080"}

    with pytest.raises(ConfigurationError, match="must not contain a user name") as raised:
        build(environ)

    assert raised.value.variable == "AGENTOBS_URL"
    assert "s3cret" not in str(raised.value)
