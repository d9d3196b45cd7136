"""The reporter: a daemon thread that sends a ledger's counters as heartbeats.

Every heartbeat carries the whole ledger, cumulative since the process started,
under one instance id and a sequence number that grows with every heartbeat
built. The receiver keeps the greatest value per (agent, instance, model), so a
retried, duplicated or reordered heartbeat never counts a token twice and a
lost one costs nothing. Nothing is queued: memory stays bounded whatever the
receiver does, and records made while a POST is in flight are in the next
snapshot.

The thread sleeps on a condition variable between heartbeats and does its I/O
outside every lock. Neither the thread nor any public method raises into the
agent: failures are logged, rarely, through the `agentobs_client` logger.

Limitations: a hard kill (SIGKILL, OOM) loses the records made since the last
accepted heartbeat, and so does a process that exits while the receiver is
unreachable or rejects its heartbeats. In the second case `close()` returns
False and logs a warning with the tokens and calls that were not delivered.
A reporter does not follow `os.fork()`.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import random
import threading
import time
import types
import urllib.request
import uuid
from collections.abc import Mapping
from typing import Self

from agentobs_client import _config, _delivery_log, _heartbeat, _ledger, _shutdown, _transport

__all__ = ["Reporter"]

logger = logging.getLogger(__name__)


class Reporter:
    """Send a ledger's counters to the agentobs receiver in the background.

    The reporter starts its daemon thread at construction and sends a heartbeat
    every `interval` seconds (with jitter), plus a final one from `close()`, at
    interpreter exit and on SIGTERM. It works the same in threaded and asyncio
    programs because it never touches the event loop. Use `aflush()` and
    `aclose()` from coroutines.

    Settings come from the keyword arguments, else from the environment:

    Args:
        ledger: The ledger to report.
        url: Base URL of the receiver (AGENTOBS_URL), required.
        agent_name: Agent name (AGENTOBS_AGENT_NAME), required.
        namespace: Namespace (AGENTOBS_NAMESPACE), else read from
            `namespace_file`, the pod's ServiceAccount namespace.
        token: Static bearer token (AGENTOBS_TOKEN).
        token_file: File with a bearer token, such as a projected ServiceAccount
            token (AGENTOBS_TOKEN_FILE). It is read again before every heartbeat,
            so rotated tokens are picked up, and it wins over `token`.
        interval: Seconds between heartbeats (AGENTOBS_INTERVAL), default 15.
        jitter: Fraction of the interval, 0 to 1, by which each wait varies at
            random so that many agents do not send in step. Default 0.1.
        timeout: Seconds to wait for the receiver's response. Default 10.
        backoff_initial: First delay, in seconds, after a failed POST. It doubles
            with each failure in a row, with jitter. Default 1.
        backoff_max: Upper bound of that delay, in seconds. Default 60.
        shutdown_timeout: Seconds that the final flush at exit or on SIGTERM
            may take. Default 5.
        handle_sigterm: Install the SIGTERM handler (main thread only).
        environ: Mapping read instead of `os.environ`.
        namespace_file: Path read when no namespace is configured.

    Raises:
        ConfigurationError: The URL or agent name is missing, or a setting is
            invalid. The message names the environment variable to set.
    """

    def __init__(
        self,
        ledger: _ledger.UsageLedger,
        *,
        url: str | None = None,
        agent_name: str | None = None,
        namespace: str | None = None,
        token: str | None = None,
        token_file: str | None = None,
        interval: float | None = None,
        jitter: float = 0.1,
        timeout: float = 10.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        shutdown_timeout: float = 5.0,
        handle_sigterm: bool = True,
        environ: Mapping[str, str] | None = None,
        namespace_file: str = _config.DEFAULT_NAMESPACE_FILE,
    ) -> None:
        if not isinstance(ledger, _ledger.UsageLedger):
            raise TypeError(f"ledger must be a UsageLedger, got {type(ledger).__name__}")
        self._config = _config.load_config(
            url=url,
            agent_name=agent_name,
            namespace=namespace,
            token=token,
            token_file=token_file,
            interval=interval,
            environ=environ,
            namespace_file=namespace_file,
        )
        _check_seconds("timeout", timeout)
        _check_seconds("backoff_initial", backoff_initial)
        _check_seconds("backoff_max", backoff_max)
        _check_seconds("shutdown_timeout", shutdown_timeout)
        if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter <= 1:
            raise ValueError(f"jitter must be a number from 0 to 1, got {jitter!r}")

        self._ledger = ledger
        self._jitter = float(jitter)
        self._timeout = float(timeout)
        self._backoff_initial = float(backoff_initial)
        self._backoff_max = max(float(backoff_max), self._backoff_initial)
        self._shutdown_timeout = float(shutdown_timeout)
        self._opener = urllib.request.build_opener()
        self._token_file_warned = False

        self.instance = _heartbeat.InstanceId(uuid.uuid4().hex)
        """Instance id of this process, sent with every heartbeat."""
        self._log = _delivery_log.DeliveryLog(self._config, self.instance)
        if not self._config.token and self._config.token_file is None:
            self._log.no_token()
        self._started_at = datetime.datetime.now(datetime.UTC)
        self._sequence = 0

        # State shared with the thread, guarded by _condition. A flush request
        # carries a generation number and the snapshot taken when it was made.
        self._condition = threading.Condition()
        self._flush_generation = 0
        self._flush_snapshot: _ledger.UsageSnapshot | None = None
        self._attempted_generation = 0
        self._delivered_generation = 0
        self._rejected_generation = 0
        # The snapshot of the last accepted heartbeat and the last failed POST
        # since then, for the warning when close() cannot deliver everything.
        self._accepted_snapshot: _ledger.UsageSnapshot | None = None
        self._last_failure: _transport.Result | None = None
        self._next_send = time.monotonic() + self._jittered(self._config.interval)
        self._not_before = 0.0
        self._failures = 0
        self._close_started = False
        self._closing = False
        self._stopped = False

        self._thread = threading.Thread(
            target=self._run, name=f"agentobs-reporter-{self.instance[:8]}", daemon=True
        )
        self._thread.start()
        self._exit_hooks = _shutdown.ExitHooks(self._close_at_exit, handle_sigterm=handle_sigterm)
        logger.debug(
            "reporter started namespace=%s agent=%s instance=%s interval=%.1fs",
            self._config.namespace,
            self._config.agent,
            self.instance,
            self._config.interval,
        )

    @property
    def config(self) -> _config.ReporterConfig:
        """The validated settings (the token is hidden from the repr)."""
        return self._config

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything recorded so far now, and wait until it is stored.

        Args:
            timeout: Seconds to wait; None waits until the receiver accepts or
                rejects the heartbeat.

        Returns:
            True when the receiver accepted a heartbeat that carries every record
            made before the call. False on timeout, when the receiver rejected the
            heartbeat (the reason is logged) or when the reporter is closed.
            Failed heartbeats are retried in the background either way.
        """
        try:
            return self._flush(timeout, final=False)
        except Exception:
            logger.exception("flush failed")
            return False

    def close(self, timeout: float | None = None) -> bool:
        """Send a final heartbeat, then stop the thread and remove the exit hooks.

        Args:
            timeout: Seconds to wait for the final heartbeat; None uses
                `shutdown_timeout`.

        Returns:
            True when the receiver accepted a final heartbeat that carries every
            record made before the call. False when it did not within
            `timeout`, and then a warning says how many tokens and calls were
            not delivered. Calling close again returns False and does nothing.
        """
        try:
            return self._close(self._shutdown_timeout if timeout is None else timeout)
        except Exception:
            logger.exception("close failed")
            return False

    # The timeout bounds the wait inside the worker thread, which cancelling the
    # coroutine could not stop, so it stays a parameter.
    async def aflush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Run `flush` in a worker thread, so the event loop keeps running."""
        return await asyncio.to_thread(self.flush, timeout)

    async def aclose(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Run `close` in a worker thread, so the event loop keeps running."""
        return await asyncio.to_thread(self.close, timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self.close()

    def _flush(self, timeout: float | None, *, final: bool) -> bool:
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        with self._condition:
            if self._stopped:
                return False
            if final:
                self._closing = True
            self._flush_generation += 1
            generation = self._flush_generation
            # Taken here, not in the thread: a SIGTERM handler may run while the
            # main thread holds the ledger's (reentrant) lock.
            self._flush_snapshot = self._ledger.snapshot()
            self._condition.notify_all()

            while (
                self._delivered_generation < generation
                and self._rejected_generation < generation
                and not self._stopped
            ):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._condition.wait(remaining)
            return self._delivered_generation >= generation

    def _close(self, timeout: float) -> bool:
        with self._condition:
            if self._close_started:
                return False
            self._close_started = True
        delivered = self._flush(timeout, final=True)

        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        self._exit_hooks.uninstall()
        if delivered:
            # The thread is idle once the final heartbeat is stored, so this
            # usually returns at once. Otherwise a POST may still be in flight,
            # and the daemon thread is left to finish it rather than delay exit.
            self._thread.join(self._timeout)
        else:
            self._log_undelivered()
        logger.debug("reporter closed instance=%s delivered=%s", self.instance, delivered)
        return delivered

    def _close_at_exit(self) -> None:
        self.close(self._shutdown_timeout)

    def _run(self) -> None:
        while self._wait_for_turn():
            try:
                self._send_once()
            except Exception:
                # A bug here must not end the thread: the next turn tries again.
                logger.exception("heartbeat failed unexpectedly instance=%s", self.instance)
                with self._condition:
                    self._next_send = time.monotonic() + self._config.interval

    def _wait_for_turn(self) -> bool:
        with self._condition:
            while not self._stopped:
                flush_pending = self._flush_generation > self._attempted_generation
                due = self._not_before if flush_pending else max(self._next_send, self._not_before)
                now = time.monotonic()
                if now >= due:
                    return True
                self._condition.wait(due - now)
            return False

    def _send_once(self) -> None:
        # Take the snapshot and number the heartbeat. A pending flush brings its
        # own snapshot; otherwise a fresh one also covers every earlier flush.
        with self._condition:
            generation = self._flush_generation
            pending = self._flush_snapshot
            self._flush_snapshot = None
            final = self._closing
            self._sequence += 1
            sequence = self._sequence
        snapshot = pending if pending is not None else self._ledger.snapshot()

        body = _heartbeat.build_heartbeat(
            snapshot,
            namespace=self._config.namespace,
            agent=self._config.agent,
            instance=self.instance,
            sequence=sequence,
            started_at=self._started_at,
            final=final,
        )
        result = _transport.post_heartbeat(
            self._opener,
            self._config.heartbeat_url,
            _heartbeat.encode(body),
            token=self._read_token(),
            timeout=self._timeout,
        )
        self._settle(
            result, snapshot=snapshot, generation=generation, sequence=sequence, final=final
        )

    def _settle(
        self,
        result: _transport.Result,
        *,
        snapshot: _ledger.UsageSnapshot,
        generation: int,
        sequence: int,
        final: bool,
    ) -> None:
        # Log outside the condition, then update the schedule and wake waiters.
        failures = self._failures + 1 if result.outcome is _transport.Outcome.RETRY else 0
        delay = self._delay_after(result, failures)
        self._log.result(
            result,
            sequence=sequence,
            failures=failures,
            previous_failures=self._failures,
            delay=delay,
            final=final,
        )

        now = time.monotonic()
        with self._condition:
            self._attempted_generation = max(self._attempted_generation, generation)
            if result.outcome is _transport.Outcome.ACCEPTED:
                self._delivered_generation = max(self._delivered_generation, generation)
                self._accepted_snapshot = snapshot
                self._last_failure = None
            else:
                self._last_failure = result
            if result.outcome is _transport.Outcome.REJECTED:
                self._rejected_generation = max(self._rejected_generation, generation)
            self._failures = failures
            self._next_send = now + delay
            self._not_before = now + (result.retry_after or 0.0)
            self._condition.notify_all()

    def _delay_after(self, result: _transport.Result, failures: int) -> float:
        if result.outcome is not _transport.Outcome.RETRY:
            return self._jittered(self._config.interval)
        # Exponential backoff with jitter between half and the whole delay.
        exponent = min(failures - 1, 62)
        backoff = min(self._backoff_max, self._backoff_initial * 2.0**exponent)
        backoff = random.uniform(backoff / 2, backoff)
        return max(backoff, result.retry_after or 0.0)

    def _log_undelivered(self) -> None:
        current = self._ledger.snapshot()
        with self._condition:
            accepted = self._accepted_snapshot
            failure = self._last_failure
        self._log.undelivered(current, accepted=accepted, failure=failure)

    def _read_token(self) -> str | None:
        path = self._config.token_file
        if path is None:
            return self._config.token
        try:
            with open(path, encoding="utf-8") as file:
                token = file.read().strip()
        except OSError as error:
            if not self._token_file_warned:
                self._token_file_warned = True
                logger.warning(
                    "cannot read the token file, sending without a token path=%s error=%s",
                    path,
                    error.strerror or type(error).__name__,
                )
            return None
        self._token_file_warned = False
        return token or None

    def _jittered(self, seconds: float) -> float:
        return seconds * random.uniform(1 - self._jitter, 1 + self._jitter)


def _check_seconds(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
