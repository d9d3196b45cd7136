"""Reporter configuration from keyword arguments or environment variables.

A keyword argument wins over its environment variable. Every error is raised
at construction, once, and names the variable to set, so a misconfigured agent
fails at start instead of sending heartbeats that the receiver rejects.

    AGENTOBS_URL          base URL of the receiver, e.g. http://agentobs.agentobs.svc:8080
    AGENTOBS_AGENT_NAME   agent name (an AgentObservation's spec.agentRef.name)
    AGENTOBS_NAMESPACE    namespace; default: the pod's ServiceAccount namespace file
    AGENTOBS_TOKEN_FILE   file with a bearer token, re-read before every heartbeat
    AGENTOBS_TOKEN        static bearer token, used when no token file is set
    AGENTOBS_INTERVAL     seconds between heartbeats (default 15)
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import urllib.parse
from collections.abc import Mapping
from typing import Final

__all__ = ["DEFAULT_NAMESPACE_FILE", "ConfigurationError", "ReporterConfig", "load_config"]

DEFAULT_NAMESPACE_FILE: Final = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
DEFAULT_INTERVAL: Final = 15.0
HEARTBEAT_PATH: Final = "/v1/heartbeats"

# The receiver's schema: a namespace is a DNS-1123 label, an agent a DNS-1123
# subdomain.
_NAMESPACE_PATTERN: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_AGENT_PATTERN: Final = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


class ConfigurationError(ValueError):
    """The reporter's configuration is missing or invalid.

    `variable` names the environment variable (or keyword argument) to fix.
    """

    def __init__(self, message: str, *, variable: str) -> None:
        super().__init__(message)
        self.variable = variable


@dataclasses.dataclass(frozen=True)
class ReporterConfig:
    """Validated reporter settings. `token` is never shown in the repr."""

    heartbeat_url: str
    agent: str
    namespace: str
    interval: float
    token: str | None = dataclasses.field(default=None, repr=False)
    token_file: str | None = None


def load_config(
    *,
    url: str | None,
    agent_name: str | None,
    namespace: str | None,
    token: str | None,
    token_file: str | None,
    interval: float | None,
    environ: Mapping[str, str] | None = None,
    namespace_file: str = DEFAULT_NAMESPACE_FILE,
) -> ReporterConfig:
    """Merge keyword arguments with the environment and validate the result.

    Raises:
        ConfigurationError: A required setting is missing or a value is invalid.
            `variable` names the environment variable to set.
    """
    env = os.environ if environ is None else environ

    base_url = url if url is not None else env.get("AGENTOBS_URL", "")
    agent = agent_name if agent_name is not None else env.get("AGENTOBS_AGENT_NAME", "")
    if namespace is None:
        namespace = env.get("AGENTOBS_NAMESPACE") or _read_namespace_file(namespace_file)

    # An empty file name or token counts as unset, as an empty variable would.
    if token_file is None:
        token_file = env.get("AGENTOBS_TOKEN_FILE") or None
    if token is None:
        token = env.get("AGENTOBS_TOKEN") or None

    return ReporterConfig(
        heartbeat_url=_heartbeat_url(base_url),
        agent=_checked_agent(agent),
        namespace=_checked_namespace(namespace),
        interval=_interval(interval, env.get("AGENTOBS_INTERVAL")),
        token=token,
        token_file=token_file or None,
    )


def _heartbeat_url(base_url: str) -> str:
    if not base_url:
        raise ConfigurationError(
            "the receiver URL is missing: set AGENTOBS_URL (for example "
            "http://agentobs.agentobs.svc:8080) or pass url=",
            variable="AGENTOBS_URL",
        )
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"AGENTOBS_URL must be an http:// or https:// URL with a host, got {base_url!r}",
            variable="AGENTOBS_URL",
        )
    if parts.username is not None or parts.password is not None:
        # urllib cannot send credentials from the URL, and they would end up in logs.
        raise ConfigurationError(
            "AGENTOBS_URL must not contain a user name or password; authenticate with "
            "AGENTOBS_TOKEN_FILE or AGENTOBS_TOKEN instead "
            f"(got a URL for host {parts.hostname!r})",
            variable="AGENTOBS_URL",
        )
    return base_url.rstrip("/") + HEARTBEAT_PATH


def _checked_agent(agent: str) -> str:
    if not agent:
        raise ConfigurationError(
            "the agent name is missing: set AGENTOBS_AGENT_NAME or pass agent_name=",
            variable="AGENTOBS_AGENT_NAME",
        )
    if len(agent) > 253 or not _AGENT_PATTERN.fullmatch(agent):
        raise ConfigurationError(
            "AGENTOBS_AGENT_NAME must be a Kubernetes object name (lowercase letters, "
            f"digits, '-' and '.', at most 253 characters), got {agent!r}",
            variable="AGENTOBS_AGENT_NAME",
        )
    return agent


def _checked_namespace(namespace: str | None) -> str:
    if not namespace:
        raise ConfigurationError(
            "the namespace is missing: set AGENTOBS_NAMESPACE or pass namespace= "
            "(in a pod it is read from the ServiceAccount namespace file)",
            variable="AGENTOBS_NAMESPACE",
        )
    if len(namespace) > 63 or not _NAMESPACE_PATTERN.fullmatch(namespace):
        raise ConfigurationError(
            "AGENTOBS_NAMESPACE must be a Kubernetes namespace name (lowercase letters, "
            f"digits and '-', at most 63 characters), got {namespace!r}",
            variable="AGENTOBS_NAMESPACE",
        )
    return namespace


def _interval(interval: float | None, from_env: str | None) -> float:
    value: object = interval
    if value is None and from_env:
        try:
            value = float(from_env)
        except ValueError:
            value = from_env
    if value is None:
        return DEFAULT_INTERVAL

    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigurationError(
            f"AGENTOBS_INTERVAL must be a positive number of seconds, got {value!r}",
            variable="AGENTOBS_INTERVAL",
        )
    return float(value)


def _read_namespace_file(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().strip() or None
    except OSError:
        return None
