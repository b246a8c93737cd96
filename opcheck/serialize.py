"""``OpReport`` ↔ JSON-ready dicts: what the report files, the results stream, ``--resume``
and ``opcheck merge`` share.

``report_to_dict`` is ``OpReport.to_dict()`` made strict-JSON safe (non-finite floats
become ``null``, ``"inf"`` or ``"-inf"``); ``report_from_dict`` rebuilds the dataclasses,
ignoring keys it does not know (derived figures such as ``max_rel_error``, or fields a
newer opcheck added), so a file written by one version reads in the next.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .plain_data import jsonable, report_dict
from .result import Element, InputResult, OpReport, VariantResult

__all__ = ["jsonable", "report_from_dict", "report_to_dict"]


def report_to_dict(report: OpReport) -> dict[str, Any]:
    """``report.to_dict()`` made strict-JSON safe, in the same single pass."""
    return report_dict(report, json_safe=True)


def report_from_dict(data: dict[str, Any]) -> OpReport:
    """Rebuild an ``OpReport`` from ``report_to_dict`` output (or a JSON report's op entry)."""
    fields = _known(OpReport, data)
    fields["variants"] = [_variant(v) for v in data.get("variants") or []]
    return OpReport(**fields)


def _variant(data: dict[str, Any]) -> VariantResult:
    fields = _known(VariantResult, data)
    fields["inputs"] = [_input(i) for i in data.get("inputs") or []]
    return VariantResult(**fields)


def _input(data: dict[str, Any]) -> InputResult:
    fields = _known(InputResult, data)
    fields["shape"] = tuple(data.get("shape") or ())
    worst = data.get("worst")
    fields["worst"] = _element(worst) if worst else None
    for key in ("mismatches", "unresolved"):
        fields[key] = [_element(e) for e in data.get(key) or []]
    for key in ("max_rel_error", "max_abs_error", "max_error_estimate"):
        if key in fields:
            fields[key] = _float(fields[key])
    if fields.get("abs_errors") is not None:  # the heat map's figures, where recorded
        fields["abs_errors"] = [_float(v) for v in fields["abs_errors"]]
    return InputResult(**fields)


def _element(data: dict[str, Any]) -> Element:
    fields = _known(Element, data)
    fields["index"] = tuple(data.get("index") or ())
    for key in ("analytic", "numeric", "abs_error", "rel_error", "error_estimate"):
        if key in fields:
            value = _float(fields[key])
            fields[key] = math.nan if value is None else value
    return Element(**fields)


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _float(value: Any) -> float | None:
    """Undo ``jsonable``: "inf"/"-inf" back to floats; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return float(value)
    return value
