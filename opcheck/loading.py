"""Discovering the plugins for a front end (the CLI, the pytest plugin), guarded against
plugins that misbehave while they load:

- a plugin that calls ``sys.exit`` or ``os._exit`` while it is imported or in its hook
  is a usage error naming it, never the end of opcheck with the status it chose (exit 0
  would read as a silent pass);
- one whose import (or hook) does not finish within ``OPCHECK_PLUGIN_TIMEOUT`` seconds
  (default 60) is stopped, and the error names it (a Python-level hang; a hang inside C
  code cannot be interrupted in-process);
- what plugins print while loading goes to stderr, never into a report on stdout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .errors import PluginTimeout, UsageError
from .hygiene import ExitCalled, trapped_exit

if TYPE_CHECKING:
    from .plugin_manager import PluginSpec, Registry

TIMEOUT_ENV = "OPCHECK_PLUGIN_TIMEOUT"
DEFAULT_TIMEOUT = 60.0
_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))


def load_timeout() -> float:
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        return float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        raise UsageError(f"{TIMEOUT_ENV}={text!r} is not a number of seconds") from None


def guarded_discover(plugins: Iterable[PluginSpec] = ()) -> Registry:
    """``discover(plugins)`` under the guards above."""
    from .plugin_manager import discover

    with loading_guard():
        return discover(plugins)


@contextlib.contextmanager
def loading_guard() -> Iterator[None]:
    """The guards above around code that imports plugins and calls their hooks."""
    try:
        with _stdout_to_stderr(), trapped_exit(), _time_limit(load_timeout()):
            yield
    except SystemExit as exc:  # ExitCalled included
        call = str(exc) if isinstance(exc, ExitCalled) else f"sys.exit({exc.code!r}) was called"
        raise UsageError(f"{_culprit(exc)} {call} while loading; a plugin must not end the "
                         "process: raise an exception instead") from None


def _culprit(exc: BaseException) -> str:
    """'plugin module NAME (at FILE:LINE)': the innermost frame outside opcheck, importlib
    and pluggy, from where it called exit."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.realpath(f.filename).startswith(_PACKAGE_DIR + os.sep)
              and "importlib" not in f.filename and "pluggy" not in f.filename
              and not f.filename.startswith("<frozen")]
    if not frames:
        return "a plugin"
    last = frames[-1]
    module = os.path.splitext(os.path.basename(last.filename))[0]
    return f"plugin module {module!r} (at {last.filename}:{last.lineno})"


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """File descriptor 1 and ``sys.stdout`` point at stderr for the block."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no stdout at all
        yield
        return
    stdout = sys.stdout
    try:
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        yield
    finally:
        sys.stdout = stdout
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise ``PluginTimeout`` in the loading code after ``seconds`` (main thread only)."""
    if not (seconds > 0 and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise PluginTimeout(f"it did not finish loading within {seconds:g} s{_where(frame)} "
                            f"(set {TIMEOUT_ENV} to allow longer)")

    previous = signal.signal(signal.SIGALRM, expire)
    started = time.monotonic()
    pending, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if pending:  # someone else's timer (pytest-timeout...) was running: re-arm it
            left = pending - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), interval)


def _where(frame: Any) -> str:
    """' (stuck at FILE:LINE)': the frame the timer interrupted."""
    if frame is None:
        return ""
    return f" (stuck at {frame.f_code.co_filename}:{frame.f_lineno})"
