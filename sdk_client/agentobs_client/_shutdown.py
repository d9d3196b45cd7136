"""Final flush of a reporter at interpreter exit and on SIGTERM.

The SIGTERM handler is installed only from the main thread, because Python
allows no other, and only when the current disposition is the default or a
Python handler. A program that ignores SIGTERM keeps ignoring it. After the
flush the handler chains to the previous Python handler, or restores the
default disposition and raises the signal again, so the process still ends
with the status a SIGTERM gives.

Limitations: a handler that the program installs after the reporter replaces
this one (call `Reporter.close()` from it), and SIGKILL or a crash skips the
flush.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
import types
from collections.abc import Callable

__all__ = ["ExitHooks"]

logger = logging.getLogger(__name__)

_SignalHandler = Callable[[int, types.FrameType | None], object] | int | signal.Handlers | None


class ExitHooks:
    """Calls `close` once at interpreter exit and on SIGTERM until uninstalled."""

    def __init__(self, close: Callable[[], object], *, handle_sigterm: bool) -> None:
        self._close = close
        self._previous: _SignalHandler = None
        self._signal_installed = False
        self._handling_signal = False

        atexit.register(self._close)
        if handle_sigterm:
            self._install_signal_handler()

    def uninstall(self) -> None:
        """Remove the atexit hook and, from the main thread, restore SIGTERM."""
        atexit.unregister(self._close)
        if not self._signal_installed or not _in_main_thread():
            return
        # Restore only if nothing replaced this handler in the meantime.
        if signal.getsignal(signal.SIGTERM) == self._on_sigterm:
            signal.signal(signal.SIGTERM, self._previous)
            self._signal_installed = False

    def _install_signal_handler(self) -> None:
        if not _in_main_thread():
            logger.debug("sigterm handler not installed: reporter created outside the main thread")
            return
        previous = signal.getsignal(signal.SIGTERM)
        if previous is signal.SIG_IGN or previous is None:
            # Ignored, or set outside Python: leave the program's choice alone.
            return
        self._previous = previous
        signal.signal(signal.SIGTERM, self._on_sigterm)
        self._signal_installed = True

    def _on_sigterm(self, signum: int, frame: types.FrameType | None) -> None:
        # A second SIGTERM during the flush goes straight to the previous handler.
        if not self._handling_signal:
            self._handling_signal = True
            try:
                self._close()
            except Exception:
                logger.exception("final flush on sigterm failed")
            finally:
                self._handling_signal = False

        previous = self._previous
        if callable(previous):
            previous(signum, frame)
            return
        # The default disposition ends the process: restore it and raise again.
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
