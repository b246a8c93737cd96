"""What a user chooses, checked the same way by every front end and the core: the audit
modes, seeds, and the "did you mean" hint for a name that is not there.

Standard library only: the CLI imports it before numpy (its fork server starts first).
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Iterable

#: ``opcheck.audit(mode=...)``, ``--mode``, ``--opcheck-mode``.
MODES = ("auto", "full", "fast")

SEED_RULE = "use a whole number >= 0"


def seed_problem(seed: object) -> str | None:
    """Why ``seed`` is not a seed (an int >= 0; a bool is not one), or None."""
    try:
        value = operator.index(seed)  # int and numpy integers; not floats or strings
    except TypeError:
        value = None
    if isinstance(seed, bool) or value is None or value < 0:
        return f"{seed!r} is not a seed; {SEED_RULE}"
    return None


def parse_seed(text: str) -> int:
    """A command-line seed; the ValueError is argparse's usage error."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a seed; {SEED_RULE}") from None
    if value < 0:
        raise ValueError(f"{text} is not a seed; {SEED_RULE}")
    return value


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """'did you mean a, b?' for the closest of ``known`` names, or '' when none is close."""
    close = difflib.get_close_matches(name, list(known), n=3)
    return f"did you mean {', '.join(close)}?" if close else ""
