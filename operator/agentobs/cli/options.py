"""Every setting of the `agentobs` command, as a flag with an environment variable.

A flag wins over its environment variable, which wins over the default. The
table below is the single list: `--help`, the parsers and the documentation
all come from it.
"""

from __future__ import annotations

import argparse
import os
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECEIVER = "receiver"
OPERATOR = "operator"
DATABASE = "database"


@dataclass(frozen=True)
class Option:
    """One setting: its flag, environment variable, type, default and help text."""

    flag: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    groups: frozenset[str]

    @property
    def env(self) -> str:
        return "AGENTOBS_" + self.flag.removeprefix("--").replace("-", "_").upper()

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


def parse_bool(text: str) -> bool:
    """Parse true/false, yes/no, on/off or 1/0, in any case."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, received {text!r}")


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"expected a number, received {text!r}") from error
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, received {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, received {text!r}")
    return value


def _retention(text: str) -> float:
    value = float(_positive(float)(text))
    if value < 86400:
        raise argparse.ArgumentTypeError(
            "expected at least 86400 seconds, so that the 24 h window is complete,"
            f" received {text!r}"
        )
    return value


def _database_url(text: str) -> str:
    # The URL may hold a password, so the message shows only its scheme.
    scheme = urllib.parse.urlsplit(text).scheme
    if scheme not in ("postgresql", "postgres"):
        raise argparse.ArgumentTypeError(
            "expected a postgresql:// URI such as postgresql://user:password@host:5432/agentobs,"
            f" received a value with scheme {scheme!r}"
        )
    return text


def _option(
    flag: str, parse: Callable[[str], Any], default: Any, text: str, *groups: str
) -> Option:
    return Option(flag, parse, default, text, frozenset(groups))


OPTIONS = (
    _option(
        "--database-url",
        _database_url,
        None,
        "PostgreSQL connection URI of the store (required); never logged.",
        DATABASE,
        RECEIVER,
        OPERATOR,
    ),
    _option(
        "--kubeconfig",
        Path,
        None,
        "Kubeconfig file; by default the pod's ServiceAccount, else KUBECONFIG or ~/.kube/config.",
        RECEIVER,
        OPERATOR,
    ),
    _option(
        "--listen-host", str, "0.0.0.0", "Address the HTTP server listens on.", RECEIVER, OPERATOR
    ),
    _option(
        "--port",
        _port,
        8080,
        "TCP port of the HTTP server: heartbeats, usage API, /healthz, /readyz, /metrics.",
        RECEIVER,
        OPERATOR,
    ),
    _option(
        "--migrate-on-start",
        parse_bool,
        True,
        "Apply pending database migrations at startup.",
        RECEIVER,
        OPERATOR,
    ),
    _option(
        "--token-audience",
        str,
        "agentobs",
        "Audience that agents' ServiceAccount tokens must carry.",
        RECEIVER,
    ),
    _option(
        "--static-tokens-file",
        Path,
        None,
        "YAML or JSON file mapping static bearer tokens to a namespace, for agents"
        " outside the cluster; reloaded when it changes.",
        RECEIVER,
    ),
    _option(
        "--allow-unauthenticated",
        parse_bool,
        False,
        "Accept requests without a token check; only for local development.",
        RECEIVER,
    ),
    _option(
        "--body-limit",
        _positive(int),
        64 * 1024,
        "Largest heartbeat body in bytes; larger ones get 413.",
        RECEIVER,
    ),
    _option(
        "--max-models", _positive(int), 256, "Maximum number of models in one heartbeat.", RECEIVER
    ),
    _option(
        "--max-unregistered-agents",
        _positive(int),
        100,
        "Maximum number of agents without an AgentObservation that may report in one namespace.",
        RECEIVER,
    ),
    _option(
        "--sample-retention",
        _retention,
        172800.0,
        "Seconds the per-minute usage samples are kept (at least 86400).",
        RECEIVER,
    ),
    _option(
        "--status-interval",
        _positive(float),
        5.0,
        "Minimum seconds between two status patches of one AgentObservation.",
        OPERATOR,
    ),
    _option(
        "--status-qps",
        _positive(float),
        10.0,
        "Status patches per second across all objects.",
        OPERATOR,
    ),
    _option(
        "--status-burst",
        _positive(int),
        20,
        "Status patches that may be sent at once before the QPS cap applies.",
        OPERATOR,
    ),
    _option(
        "--resync-interval",
        _positive(float),
        180.0,
        "Seconds between full comparisons of the cluster, the registry and the statuses.",
        OPERATOR,
    ),
    _option(
        "--stale-after",
        _positive(int),
        300,
        "Seconds without a heartbeat before Reporting turns False (objects may override).",
        OPERATOR,
    ),
    _option(
        "--status-max-models",
        _positive(int),
        20,
        "Maximum number of models listed in an object's status, the largest totals first.",
        OPERATOR,
    ),
    _option(
        "--log-level",
        str.lower,
        "info",
        "debug, info, warning or error.",
        DATABASE,
        RECEIVER,
        OPERATOR,
    ),
    _option("--log-format", str.lower, "text", "text or json.", DATABASE, RECEIVER, OPERATOR),
)


_METAVARS = {
    "database_url": "URL",
    "kubeconfig": "PATH",
    "listen_host": "HOST",
    "port": "PORT",
    "migrate_on_start": "BOOL",
    "token_audience": "AUDIENCE",
    "static_tokens_file": "PATH",
    "allow_unauthenticated": "BOOL",
    "body_limit": "BYTES",
    "max_models": "N",
    "max_unregistered_agents": "N",
    "sample_retention": "SECONDS",
    "status_interval": "SECONDS",
    "status_qps": "QPS",
    "status_burst": "N",
    "resync_interval": "SECONDS",
    "stale_after": "SECONDS",
    "status_max_models": "N",
    "log_level": "LEVEL",
    "log_format": "FORMAT",
}


def add_options(parser: argparse.ArgumentParser, groups: set[str]) -> None:
    """Add the options of the given groups, with environment defaults, to a parser."""
    for option in OPTIONS:
        if not option.groups & groups:
            continue
        shown_default = "" if option.default is None else f" (default: {option.default})"
        parser.add_argument(
            option.flag,
            dest=option.dest,
            type=option.parse,
            default=None,
            metavar=_METAVARS.get(option.dest, "VALUE"),
            help=f"{option.help}{shown_default} [env: {option.env}]",
        )


def resolve(arguments: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Return every option's value: the flag, else its environment variable, else the default."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        if not hasattr(arguments, option.dest):
            continue
        value = getattr(arguments, option.dest)
        if value is None and option.env in os.environ:
            try:
                value = option.parse(os.environ[option.env])
            except (argparse.ArgumentTypeError, ValueError) as error:
                parser.error(f"{option.env}: {error}")
        values[option.dest] = option.default if value is None else value
    if "database_url" in values and not values["database_url"]:
        parser.error("the database URL is missing: set --database-url or AGENTOBS_DATABASE_URL")
    if values.get("log_level") not in (None, "debug", "info", "warning", "error"):
        parser.error(
            f"--log-level must be debug, info, warning or error, received {values['log_level']!r}"
        )
    if values.get("log_format") not in (None, "text", "json"):
        parser.error(f"--log-format must be text or json, received {values['log_format']!r}")
    return values
