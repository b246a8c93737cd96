"""The one escaping step every report format and the terminal share.

Op names, messages and tracebacks come from third-party code. Written raw, a control
character acts on the terminal (ESC sequences set the window title or clear the screen,
BEL rings, NUL and CR hide text), a bidi override reorders what the reader sees, and a
lone surrogate cannot be encoded at all (the report is never written). ``visible``
writes each of them as a Python-style escape (``\\x1b``, ``\\u202e``, ``\\udc80``), so the
text stays readable, shows what was there, and is plain valid UTF-8. Newline and tab are
kept: reports are multi-line.
"""

from __future__ import annotations

import re
from typing import Any

#: C0 and C1 controls (but tab and newline), DEL, bidi embeddings, overrides, isolates
#: and marks, and the surrogate code points.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                    "\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: Any) -> str:
    """``str(text)`` with every unsafe character written as an escape."""
    return UNSAFE.sub(_escape, str(text))
