"""What an audit returns: plain dataclasses, rendered by ``report.py``.

Kept free of pydantic and of numpy arrays so results pickle cheaply across processes
and serialise to JSON without surprises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .plain_data import report_dict

STATUSES = ("pass", "fail", "error")

#: What an ``InputResult`` compares (docs/method.md): ``backward`` against finite
#: differences of forward; ``jvp`` likewise; ``adjoint``, jvp against backward
#: (<jvp(u), v> = <u, backward(v)>); ``double_backward`` against finite differences of
#: backward.
CHECKS = ("backward", "jvp", "adjoint", "double_backward")


def worst_status(statuses: list[str]) -> str:
    """error beats fail beats pass (an empty list passes)."""
    for status in ("error", "fail"):
        if status in statuses:
            return status
    return "pass"


@dataclass
class Element:
    """One compared element: where, both values, and how far apart."""

    index: tuple[int, ...]
    analytic: float
    numeric: float
    abs_error: float
    rel_error: float
    error_estimate: float
    outcome: str
    note: str = ""


#: Failing inputs per op that keep every element's error (``abs_errors``) and get a heat
#: map in the HTML report; the rest keep their worst elements only.
HEATMAP_INPUTS = 4


@dataclass
class InputResult:
    """The comparison for one differentiable input in one variant."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    status: str
    counts: dict[str, int]
    max_rel_error: float | None = None
    max_abs_error: float | None = None
    worst: Element | None = None
    mismatches: list[Element] = field(default_factory=list)
    unresolved: list[Element] = field(default_factory=list)
    rtol: float = 0.0
    atol: float = 0.0
    step_min: float = 0.0
    step_max: float = 0.0
    one_sided: int = 0
    max_error_estimate: float = 0.0
    method: str = "loop"
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0  # time spent on this input's finite differences
    #: |analytic - numeric| for every element in C order (None where it was not compared:
    #: a kink or an unresolved element), kept for failing inputs only: the HTML heat map.
    abs_errors: list[float | None] | None = None
    #: Which rule this compares (one of ``CHECKS``).
    check: str = "backward"
    #: What was compared: "all 32,768 elements", "4 projections + 1,024 sampled elements
    #: (of 32,768)" (docs/method.md, "The default mode and its budget").
    coverage: str = ""

    @property
    def size(self) -> int:
        return sum(self.counts.values())

    @property
    def label(self) -> str:
        """How reports name it: the input for the VJP check, "jvp:x" for the others."""
        return self.name if self.check == "backward" else f"{self.check}:{self.name}"


@dataclass
class VariantResult:
    """One shape variant: the dims used, the seed, and each input's comparison."""

    label: str
    dims: dict[str, int]
    seed: int
    status: str = "pass"
    message: str = ""
    traceback: str = ""
    inputs: list[InputResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The attr configuration audited (``Op.attrs``), also spelled in ``label``.
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def max_rel_error(self) -> float | None:
        """The seed notebook's figure over every element compared, whichever rule it came
        from (backward, jvp, double_backward): a wrong second-order rule must show in the
        figure, or ``opcheck diff --growth`` could not see it grow."""
        return _max(i.max_rel_error for i in self.inputs)

    @property
    def first_order(self) -> list[InputResult]:
        """The results behind ``max_rel_error``: backward's, or a forward-mode-only op's jvp's."""
        main = "backward" if any(i.check == "backward" for i in self.inputs) else "jvp"
        return [i for i in self.inputs if i.check == main]


@dataclass
class OpReport:
    """The audit of one op over all its variants; ``status`` is the worst variant's."""

    name: str
    status: str
    mode: str = "auto"
    seed: int = 0
    plugin: str | None = None
    variants: list[VariantResult] = field(default_factory=list)
    duration: float = 0.0
    message: str = ""
    reproduce: str = ""
    warnings: list[str] = field(default_factory=list)
    #: Variants an ``Op.skip`` selector left out (label → reason): never run, so not in
    #: ``variants``; an op with ``status`` ``skip`` lists every variant here.
    skipped: dict[str, str] = field(default_factory=dict)
    #: For an ``xpass``: the variants whose expected failure did not happen (empty: every
    #: passing variant, as for a baseline entry, which covers the whole op).
    xpassed: list[str] = field(default_factory=list)

    @property
    def max_rel_error(self) -> float | None:
        return _max(v.max_rel_error for v in self.variants)

    @property
    def coverage(self) -> str:
        """What the audit compared, over every variant: "all elements" where each input
        was checked element by element, else the default shape's first-order inputs'
        coverage ("x: 4 projections + 1,024 sampled elements (of 32,768)")."""
        items = [i for v in self.variants for i in v.first_order if i.coverage]
        if not items:
            return ""
        if all(i.coverage.startswith("all ") for i in items):
            return "all elements of every input"
        first = self.variants[0].first_order
        return "; ".join(f"{i.name}: {i.coverage}" for i in first if i.coverage) or items[0].coverage

    @property
    def sampled(self) -> bool:
        """A default-mode audit that, over its budget, compared only a sample element by
        element: the text report, pytest's closing section and the fixture say so."""
        return self.mode == "auto" and bool(self.coverage) and not self.coverage.startswith("all ")

    @property
    def ok(self) -> bool:
        return self.status == "pass"

    def failing_variant(self) -> VariantResult | None:
        """The first variant behind the op's status (an error before any failure)."""
        return next((v for v in self.variants if v.status == self.status != "pass"), None)

    def to_dict(self) -> dict[str, Any]:
        """This report as dicts, lists and floats (non-finite floats kept; the JSON report
        writes ``serialize.report_to_dict``, the same walk made strict-JSON safe)."""
        return report_dict(self, json_safe=False)

    def __str__(self) -> str:
        from .report import format_op

        return format_op(self)


def _max(values: Any) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None
