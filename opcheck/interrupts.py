"""Telling a real interrupt from an op that raises ``KeyboardInterrupt``.

Both arrive as ``KeyboardInterrupt``. Inside ``interruptible()`` a SIGINT or SIGTERM sent
to opcheck goes through a handler that records it before raising: a ``KeyboardInterrupt``
with no signal recorded came from the op's own code, and is that op's error, never the
end of the run (``worker.audit_guarded`` asks ``received()``).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

_active: list[dict[str, int]] = []


def _handler(signum: int, frame: Any) -> None:
    for stopped in _active:
        stopped["signal"] = signum
    raise KeyboardInterrupt


def received() -> bool:
    """Whether a real SIGINT or SIGTERM reached this process inside ``interruptible()``."""
    return any("signal" in stopped for stopped in _active)


@contextlib.contextmanager
def interruptible() -> Iterator[dict[str, int]]:
    """Ctrl-C and SIGTERM both end the run the same way (``KeyboardInterrupt``), and the
    yielded dict says which signal came (``"signal"``)."""
    stopped: dict[str, int] = {}
    previous: dict[int, Any] = {}
    for name in ("SIGINT", "SIGTERM"):
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        if signal.getsignal(signum) is signal.SIG_IGN:  # nohup, or a worker: stays ignored
            continue
        try:
            previous[signum] = signal.signal(signum, _handler)
        except ValueError:  # not the main thread: the default handlers stay
            break
    _active.append(stopped)
    try:
        yield stopped
    finally:
        # by identity: an inner and an outer context that saw the same signal are equal
        del _active[next(k for k, d in enumerate(_active) if d is stopped)]
        for signum, handler in previous.items():
            signal.signal(signum, handler)
