"""A log of rejected requests that stays short when a client keeps sending bad ones.

A misconfigured agent repeats the same rejected heartbeat every interval, so each
kind of rejection (route, status, error code) is logged at most once per
`interval_seconds`, with the number of similar rejections since its last line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

# Kinds are (route, status, error code) triples from fixed sets, so this stays small.
_Kind = tuple[str, int, str]


class RejectionLog:
    """Logs rejected requests, one line per kind and interval."""

    def __init__(
        self, *, interval_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval_seconds
        self._clock = clock
        self._last_logged: dict[_Kind, float] = {}
        self._suppressed: dict[_Kind, int] = {}

    def note(self, *, route: str, status: int, code: str, message: str, remote: str | None) -> bool:
        """Log the rejection unless its kind was logged within the interval; return whether."""
        kind = (route, status, code)
        now = self._clock()
        last = self._last_logged.get(kind)
        if last is not None and now - last < self._interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False

        similar = self._suppressed.pop(kind, 0)
        self._last_logged[kind] = now
        logger.warning(
            "request rejected status=%d error=%s route=%s remote=%s similar_since_last=%d"
            " message=%s",
            status,
            code,
            route,
            remote,
            similar,
            message,
        )
        return True
