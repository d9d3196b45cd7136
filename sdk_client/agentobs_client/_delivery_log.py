"""Log lines of a reporter about the delivery of its heartbeats.

The client logs rarely. A failed POST is a warning the first time in a row,
and every kind of rejection is logged once, because it repeats until someone
fixes its cause. The warnings that need the user's attention name what to
check. The receiver URL is logged without its user name and password, and the
bearer token is never passed to this module.
"""

from __future__ import annotations

import logging
import urllib.parse

from agentobs_client import _config, _heartbeat, _ledger, _transport

__all__ = ["DeliveryLog"]

logger = logging.getLogger(__name__)


class DeliveryLog:
    """Log lines about one reporter's heartbeats, in the `agentobs_client` logger."""

    def __init__(self, config: _config.ReporterConfig, instance: _heartbeat.InstanceId) -> None:
        self._config = config
        self._instance = instance
        self._logged_rejections: set[tuple[int | None, str]] = set()

    def result(
        self,
        result: _transport.Result,
        *,
        sequence: int,
        failures: int,
        previous_failures: int,
        delay: float,
        final: bool,
    ) -> None:
        """Log the outcome of one POST when it needs logging.

        `failures` counts the failed POSTs in a row including this one and
        `previous_failures` those before it. `delay` is the wait before the next
        POST, and `final` marks the heartbeat sent by close.
        """
        outcome = result.outcome
        if outcome is _transport.Outcome.ACCEPTED:
            if previous_failures:
                logger.info(
                    "heartbeat accepted after %d failed attempts instance=%s sequence=%d",
                    previous_failures,
                    self._instance,
                    sequence,
                )
            return

        if outcome is _transport.Outcome.RETRY:
            # The first failure in a row is a warning, the repeats are debug.
            level = logging.WARNING if failures == 1 else logging.DEBUG
            logger.log(
                level,
                "heartbeat failed, retrying in %.2fs status=%s reason=%s message=%s "
                "retry_after=%s failures=%d instance=%s sequence=%d",
                delay,
                result.status,
                result.reason,
                result.message,
                result.retry_after,
                failures,
                self._instance,
                sequence,
            )
            return

        # A rejection repeats until someone fixes its cause: log each kind once.
        key = (result.status, result.reason)
        if key in self._logged_rejections:
            return
        self._logged_rejections.add(key)

        # The field is named only when the receiver's error has one.
        field = "" if result.field is None else f" field={result.field}"
        # After the final heartbeat there is no next one, and `undelivered` warns.
        outlook = (
            "" if final else "; the counters are kept and the next accepted heartbeat carries them"
        )
        logger.warning(
            "heartbeat rejected status=%s error=%s message=%s%s namespace=%s agent=%s%s",
            result.status,
            result.reason,
            result.message,
            field,
            self._config.namespace,
            self._config.agent,
            outlook,
        )

    def no_token(self) -> None:
        """Warn that heartbeats are sent without a bearer token."""
        logger.warning(
            "no bearer token configured namespace=%s agent=%s; the receiver rejects "
            "heartbeats unless it allows unauthenticated requests, so set "
            "AGENTOBS_TOKEN_FILE (a projected ServiceAccount token) or AGENTOBS_TOKEN",
            self._config.namespace,
            self._config.agent,
        )

    def undelivered(
        self,
        current: _ledger.UsageSnapshot,
        *,
        accepted: _ledger.UsageSnapshot | None,
        failure: _transport.Result | None,
    ) -> None:
        """Warn at close about the records that the receiver has not accepted.

        Args:
            current: The ledger's snapshot now.
            accepted: The snapshot of the last accepted heartbeat, None if none was.
            failure: The last failed POST since then, None if no POST failed.
        """
        tokens, calls = _usage_since(current, accepted)
        if tokens == 0 and calls == 0:
            logger.debug(
                "final heartbeat not delivered, but every record was accepted before "
                "namespace=%s agent=%s instance=%s",
                self._config.namespace,
                self._config.agent,
                self._instance,
            )
            return

        logger.warning(
            "records not delivered at close tokens=%d calls=%d namespace=%s agent=%s "
            "instance=%s url=%s %s; they are lost if the process exits now, so check that "
            "AGENTOBS_URL reaches the receiver and that the receiver accepts the token "
            "from AGENTOBS_TOKEN_FILE or AGENTOBS_TOKEN",
            tokens,
            calls,
            self._config.namespace,
            self._config.agent,
            self._instance,
            _without_credentials(self._config.heartbeat_url),
            _describe_failure(failure),
        )


def _usage_since(
    current: _ledger.UsageSnapshot, accepted: _ledger.UsageSnapshot | None
) -> tuple[int, int]:
    # Counters only grow, so the difference from the last accepted snapshot is
    # what the receiver has not stored: tokens, and calls with or without usage.
    now = current.totals
    then = accepted.totals if accepted is not None else _ledger.TokenCounts()
    tokens = now.total_tokens - then.total_tokens
    calls = now.calls + now.unreported_calls - then.calls - then.unreported_calls
    return tokens, calls


def _describe_failure(failure: _transport.Result | None) -> str:
    # Format the last failed POST as key=value pairs. A network error has no status.
    if failure is None:
        return "error=no_response_before_timeout"
    pairs = [] if failure.status is None else [f"status={failure.status}"]
    pairs.append(f"error={failure.reason}")
    if failure.message:
        pairs.append(f"message={failure.message}")
    return " ".join(pairs)


def _without_credentials(url: str) -> str:
    # A user name or password in the URL must not reach a log line.
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=host))
