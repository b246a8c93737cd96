"""What a file handed to opcheck holds — a JSON report, a results stream, a baseline — so
that a command given the wrong one says which it got and which it expected
("--resume report.json is a JSON report, not a results stream")."""

from __future__ import annotations

import json

from .results_file import HEADER_KEY

#: The key that starts a baseline file (``baseline.KEY``; baseline imports this module).
BASELINE_KEY = "opcheck_baseline"
#: How a message names each kind of file, with the command that writes it.
NAMES = {
    "report": "a JSON report (opcheck audit --format json)",
    "stream": "a results stream (opcheck audit --results)",
    "baseline": "a --baseline file of known failures",
    "diff": "a comparison of two runs (opcheck diff --format json)",
}


def kind(text: str) -> str | None:
    """``"report"``, ``"stream"``, ``"baseline"`` (one with its version key), ``"diff"``,
    or None."""
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "ops" in doc:
        return "report"
    if isinstance(doc, dict) and BASELINE_KEY in doc:
        return "baseline"
    if isinstance(doc, dict) and {"regressions", "fixes", "old_path", "new_path"} <= set(doc):
        return "diff"
    lines = text.splitlines()
    try:
        first = json.loads(lines[0]) if lines else None
    except ValueError:
        return None
    return "stream" if isinstance(first, dict) and HEADER_KEY in first else None


def wrong_kind(text: str, expected: str) -> str | None:
    """"is a JSON report (...), not a results stream (...)" when ``text`` is another known
    kind of file than ``expected``; None otherwise."""
    found = kind(text)
    if found is None or found == expected:
        return None
    return f"is {NAMES[found]}, not {NAMES[expected]}"
