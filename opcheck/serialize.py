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

from .result import Element, InputResult, OpReport, VariantResult


def report_to_dict(report: OpReport) -> dict[str, Any]:
    """``jsonable(report.to_dict())``, in one pass and without ``dataclasses.asdict``'s deep
    copies (a JSON report of hundreds of ops holds hundreds of thousands of values)."""
    data = _plain(report)
    data["max_rel_error"] = jsonable(report.max_rel_error)
    data["coverage"] = report.coverage
    for variant, vdata in zip(report.variants, data["variants"]):
        vdata["max_rel_error"] = jsonable(variant.max_rel_error)
    return data


_LEAVES = (int, str, bool, type(None))
_FIELDS: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    # The common leaves first: a report holds hundreds of ints, strings and floats for
    # every few dataclasses, and this runs once per op in the parent of a batch audit.
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is float:
        return value if math.isfinite(value) else jsonable(value)
    if kind is list or kind is tuple:
        return [_plain(v) for v in value]
    if kind is dict:
        return {k: _plain(v) for k, v in value.items()}
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, float):  # a float subclass such as numpy.float64
        return _plain(float(value))
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def jsonable(value: Any) -> Any:
    """``value`` with every non-finite float replaced: NaN → None, ±inf → "inf"/"-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


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
