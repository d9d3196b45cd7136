"""Static bearer tokens for agents outside the cluster, read from a YAML or JSON file.

The file maps each token to the namespace it may report for, optionally with the
ServiceAccount name it reports as (which must match an AgentObservation that names
one):

    "s3cr3t-token-a": research
    "s3cr3t-token-b": {namespace: support, serviceAccount: triage-bot}

The file is checked for changes at most once a second and reloaded when its size,
modification time or inode changes. A file that no longer parses keeps the previous
tokens in force and logs an error. Tokens are kept only as SHA-256 digests.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agentobs.receiver.cache import token_digest

logger = logging.getLogger(__name__)

_CHECK_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class StaticGrant:
    """Permission of one static token: report for `namespace`, as `service_account` if set."""

    namespace: str
    service_account: str | None


class StaticTokenFileError(ValueError):
    """The static token file is missing, unreadable or not a valid mapping."""


def parse_static_tokens(document: Any, *, source: str) -> dict[str, StaticGrant]:
    """Validate a loaded token file and return the grants keyed by token digest."""
    if not isinstance(document, dict):
        raise StaticTokenFileError(
            f"{source} must contain a mapping of token to namespace,"
            f" received {type(document).__name__}"
        )
    grants = {}
    for position, (token, grant) in enumerate(document.items(), start=1):
        if not isinstance(token, str) or not token:
            raise StaticTokenFileError(
                f"entry {position} of {source} has an empty or non-string token"
            )
        if isinstance(grant, str):
            grant = {"namespace": grant}
        if not isinstance(grant, dict) or not isinstance(grant.get("namespace"), str):
            raise StaticTokenFileError(
                f"entry {position} of {source} must map to a namespace name"
                " or to {namespace: ..., serviceAccount: ...}"
            )
        account = grant.get("serviceAccount")
        if account is not None and not isinstance(account, str):
            raise StaticTokenFileError(
                f"serviceAccount of entry {position} of {source} must be a string"
            )
        grants[token_digest(token)] = StaticGrant(grant["namespace"], account)
    return grants


def _describe(error: Exception) -> str:
    """Describe a load error without quoting the file, whose lines contain tokens."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        return f"invalid YAML at line {error.problem_mark.line + 1}: {error.problem}"
    if isinstance(error, yaml.YAMLError):
        return "invalid YAML"
    return str(error)


class StaticTokens:
    """The grants of a static token file, reloaded when the file changes."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._path = path
        self._clock = clock
        self._signature: tuple[int, int, int] | None = None
        self._checked_at = float("-inf")
        self._grants: dict[str, StaticGrant] = {}
        self._load(initial=True)

    def lookup(self, token: str) -> StaticGrant | None:
        """Return the grant of `token`, or None if the file does not list it."""
        if self._clock() - self._checked_at >= _CHECK_INTERVAL_SECONDS:
            self._load(initial=False)
        return self._grants.get(token_digest(token))

    def _load(self, *, initial: bool) -> None:
        self._checked_at = self._clock()
        try:
            stat = os.stat(self._path)
            signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            if signature == self._signature:
                return
            document = yaml.safe_load(self._path.read_text(encoding="utf-8"))
            grants = parse_static_tokens(document, source=self._path.name)
        except (OSError, UnicodeDecodeError, yaml.YAMLError, StaticTokenFileError) as error:
            if initial:
                raise StaticTokenFileError(
                    f"static token file is unusable: {_describe(error)}"
                ) from None
            logger.error(
                "static token file is unusable, keeping the previous tokens error=%s",
                _describe(error),
            )
            return
        self._grants = grants
        self._signature = signature
        logger.info("loaded static tokens count=%d file=%s", len(grants), self._path.name)
