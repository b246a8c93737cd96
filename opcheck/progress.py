"""The progress bar on stderr: ops done of the total, failures so far, elapsed and remaining.

Drawn by tqdm, and only when stderr is a terminal: in CI logs and pipes it stays silent
and the run ends with the one-line summary alone.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from .result import OpReport

BAR_FORMAT = "{desc} {bar} {n_fmt}/{total_fmt} ops{postfix} [{elapsed}<{remaining}]"


class Progress:
    """``update`` once per finished op; ``close`` before printing the closing summary."""

    def __init__(self, total: int, *, done: int = 0, stream: TextIO | None = None,
                 enabled: bool | None = None, min_interval: float = 0.1) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = is_terminal(self.stream)
        self.failed = 0
        self.errors = 0
        self._bar: Any = None
        if enabled and total:
            try:
                from tqdm import tqdm
            except ImportError:  # opcheck installed without its dependencies: no bar
                return
            self._bar = tqdm(total=total, initial=done, file=self.stream, desc="auditing",
                             bar_format=BAR_FORMAT, dynamic_ncols=True, leave=False,
                             mininterval=min_interval)

    def update(self, report: OpReport) -> None:
        if report.status in ("fail", "xpass"):  # an XPASS fails the run as a failure does
            self.failed += 1
        elif report.status == "error":
            self.errors += 1
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix(), refresh=False)
            self._bar.update(1)

    def postfix(self) -> str:
        parts = []
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.errors:
            parts.append(f"{self.errors} error{'s' if self.errors != 1 else ''}")
        return ", ".join(parts)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (False for a closed or fake stream)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
