"""Result dataclasses as plain dicts, lists and floats, in one pass and without
``dataclasses.asdict``'s deep copies (a JSON report of hundreds of ops holds hundreds of
thousands of values). ``OpReport.to_dict`` and ``serialize.report_to_dict`` are this one
walk; only the handling of non-finite floats differs. A leaf module: it imports no other
part of opcheck, so ``result`` can use it without an import cycle.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


def report_dict(report: Any, *, json_safe: bool) -> dict[str, Any]:
    """An ``OpReport`` as dicts, lists and floats, with the derived ``max_rel_error`` of
    the op and of each variant; ``json_safe`` also replaces non-finite floats."""
    finish = jsonable if json_safe else _same
    data = _plain(report, finish)
    data["max_rel_error"] = finish(report.max_rel_error)
    data["coverage"] = report.coverage
    for variant, vdata in zip(report.variants, data["variants"]):
        vdata["max_rel_error"] = finish(variant.max_rel_error)
    return data


def _same(value: Any) -> Any:
    return value


_LEAVES = (int, str, bool, type(None))
_FIELDS: dict[type, tuple[str, ...]] = {}


def _plain(value: Any, finish: Any) -> Any:
    # The common leaves first: a report holds hundreds of ints, strings and floats for
    # every few dataclasses, and this runs once per op in the parent of a batch audit.
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is float:
        return value if math.isfinite(value) else finish(value)
    if kind is list or kind is tuple:
        return [_plain(v, finish) for v in value]
    if kind is dict:
        return {k: _plain(v, finish) for k, v in value.items()}
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: _plain(getattr(value, name), finish) for name in names}
    if isinstance(value, float):  # a float subclass such as numpy.float64
        return _plain(float(value), finish)
    if isinstance(value, (list, tuple)):
        return [_plain(v, finish) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, finish) for k, v in value.items()}
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
