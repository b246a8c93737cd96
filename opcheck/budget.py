"""How long one op's default audit may take, and what the default mode checks within it.

The default mode (``mode="auto"``) times one forward call and estimates the cost of an
element-wise check (two calls per input element); where that fits the op's budget it
checks every element (exactly ``mode="full"``), otherwise it checks random projections
over every element plus a covering sample element by element (``checker``'s "sampled"
plan), naming wrong elements by localisation (``localise.py``).
"""

from __future__ import annotations

import math
import os

from .errors import UsageError

#: Seconds one op's default audit may spend on its finite differences (all variants):
#: a few seconds per op keeps a library of hundreds of ops in minutes.
DEFAULT_BUDGET = 5.0
#: ``opcheck audit --budget`` sets this for its worker processes, which inherit it.
ENV = "OPCHECK_BUDGET"
#: Per-call overhead of the element loop beyond the forward itself (seconds): a Python
#: frame, the projection and two writes into the input.
CALL_OVERHEAD = 4e-6
#: A full check runs second looks on suspicious elements: leave this much headroom.
HEADROOM = 1.5


def resolve(budget: float | None) -> float:
    """The budget in seconds: the argument, else ``$OPCHECK_BUDGET``, else the default.
    A bad ``$OPCHECK_BUDGET`` is a ``UsageError`` naming it (front ends call this before
    they start, so that it is said once rather than as every op's error)."""
    if budget is None:
        raw = os.environ.get(ENV)
        if not raw:
            return DEFAULT_BUDGET
        try:
            return parse(raw)
        except ValueError:
            raise UsageError(f"{ENV}={raw!r} is not a budget; set it to a number of seconds "
                             f"> 0, e.g. {ENV}=5, or unset it for the default "
                             f"({DEFAULT_BUDGET:g})") from None
    return float(budget)


def parse(text: str) -> float:
    """A budget written as text (``--budget``, ``$OPCHECK_BUDGET``): seconds > 0, finite;
    else a ``ValueError`` saying so in the words of ``--budget 0``."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not valid(value):
        raise ValueError(f"{text} is not a budget; use a finite number of seconds > 0 "
                         "(--mode full checks every element whatever it costs), e.g. "
                         f"{DEFAULT_BUDGET:g}")
    return value


def valid(budget: object) -> bool:
    return (isinstance(budget, (int, float)) and not isinstance(budget, bool)
            and math.isfinite(budget) and budget > 0)


def full_cost(elements: int, forward_seconds: float) -> float:
    """Estimated seconds of an element-wise check of ``elements`` input elements."""
    return HEADROOM * 2 * elements * (forward_seconds + CALL_OVERHEAD)


#: Up to this many elements (all inputs, all rules) the default mode is the full check
#: whatever the clock says: a small op's report is then the same on every machine and
#: under any load (CONTRACT.md §4: the same seed gives the same report). Checking 4,096
#: elements costs 8,192 forward calls, well inside any budget for a small op.
ALWAYS_FULL = 4096


#: Above ``ALWAYS_FULL`` the forward is timed this many times and the fastest call is
#: the estimate (a few calls against the 2n of an element-wise check).
TIMED_CALLS = 4


def choose(elements: int, forward_seconds: float, seconds: float) -> str:
    """"full" where every element fits in ``seconds`` (always up to ``ALWAYS_FULL``
    elements), else "sampled"."""
    if elements <= ALWAYS_FULL:
        return "full"
    return "full" if full_cost(elements, forward_seconds) <= seconds else "sampled"


#: A sampled check compares at least this many elements per input, whatever the budget.
MIN_SAMPLE = 64


def sample_limit(inputs: int, forward_seconds: float, seconds: float) -> int:
    """Elements per input a sampled check can compare one by one within ``seconds``
    (half of it: projections, localisation and second looks take the rest)."""
    per_input = seconds / 2 / max(1, inputs) / full_cost(1, forward_seconds)
    return max(MIN_SAMPLE, int(per_input))
