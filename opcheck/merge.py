"""``opcheck merge``: combine shard reports (JSON reports or ``--results`` streams) into one.

Reports merge only when they audited with the same seed, mode and variant. The merged
report lists ops in the same order an unsharded run would (``selection.report_order``),
so merging the N shards of a run gives the report the run would have given on one machine.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError
from .result import OpReport
from .results_file import RUN_KEYS, read_results
from .selection import in_report_order
from .serialize import report_from_dict
from .shard import parse_shard


@dataclass
class Loaded:
    """One input of a merge: the run's metadata and its ops."""

    path: str
    meta: dict[str, Any]
    reports: list[OpReport] = field(default_factory=list)


def load(path: str) -> Loaded:
    """A JSON report (``--format json``) or a results stream (``--results``)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path!r}: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None  # several lines: a results stream
    if isinstance(doc, dict) and "ops" in doc:
        version = doc.get("schema_version")
        if not isinstance(version, int) or version > 1:
            raise UsageError(f"{path!r} has JSON schema_version {version!r}; this opcheck reads 1")
        meta = {k: v for k, v in doc.items() if k not in ("ops", "summary")}
        return Loaded(path, meta, [report_from_dict(op) for op in doc["ops"]])
    results = read_results(path)
    if results.header is None:
        raise UsageError(f"{path!r} is empty: neither a JSON report nor a results stream")
    return Loaded(path, dict(results.header), list(results.reports.values()))


def merge(loaded: Sequence[Loaded]) -> tuple[dict[str, Any], list[OpReport], list[str]]:
    """The merged metadata and ops, and warnings (missing shards, ops seen twice)."""
    if not loaded:
        raise UsageError("opcheck merge needs at least one report file")
    first = loaded[0]
    for other in loaded[1:]:
        for key in RUN_KEYS:
            if other.meta.get(key) != first.meta.get(key):
                raise UsageError(
                    f"cannot merge {first.path!r} ({key}={first.meta.get(key)!r}) with "
                    f"{other.path!r} ({key}={other.meta.get(key)!r}): shards must audit with "
                    "the same --seed, --mode and --variant"
                )
    warnings: list[str] = []
    ops: dict[str, tuple[OpReport, str]] = {}
    for item in loaded:
        for report in item.reports:
            seen = ops.get(report.name)
            if seen is not None and _figures(seen[0]) != _figures(report):
                warnings.append(f"op {report.name!r} is in {seen[1]!r} and {item.path!r} with "
                                f"different results; keeping the one from {item.path!r}")
            ops[report.name] = (report, item.path)
    warnings += _missing_shards(loaded)
    patterns = list(first.meta.get("select") or [])
    reports = in_report_order([r for r, _ in ops.values()], patterns)
    not_run = sorted({n for item in loaded for n in item.meta.get("not_run") or []} - set(ops))
    from . import __version__

    meta = {
        "tool": "opcheck",
        "opcheck_version": __version__,  # the merging opcheck; each shard's is in merged_from
        **{key: first.meta.get(key) for key in RUN_KEYS},
        "select": patterns,
        "shard": None,
        "duration": sum(float(item.meta.get("duration") or 0.0) for item in loaded),
        "merged_from": [{"path": item.path, "shard": item.meta.get("shard"),
                         "opcheck_version": item.meta.get("opcheck_version")} for item in loaded],
        "not_run": not_run,
    }
    return meta, reports, warnings


def _figures(report: OpReport) -> tuple[Any, ...]:
    return report.status, report.max_rel_error, report.message


def _missing_shards(loaded: Sequence[Loaded]) -> list[str]:
    shards = [item.meta.get("shard") for item in loaded]
    if not shards or any(s is None for s in shards):
        return []
    try:
        parsed = [parse_shard(str(s)) for s in shards]
    except UsageError:
        return []
    counts = {s.count for s in parsed}
    if len(counts) != 1:
        return [f"the inputs come from different shardings ({', '.join(sorted(set(shards)))})"]
    [count] = counts
    missing = sorted(set(range(1, count + 1)) - {s.index for s in parsed})
    return [f"shard {k}/{count} is missing: its ops are not in the merged report" for k in missing]
