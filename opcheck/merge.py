"""``opcheck merge``: combine shard reports (JSON reports or ``--results`` streams) into one.

Reports merge only when they audited with the same seed, mode, variant and order (else a usage
error). The merged report lists ops in the same order an unsharded run would
(``selection.report_order``), so merging the N shards of a run gives the report the run
would have given on one machine.

A merge is *complete* only when it can vouch for that: every shard present, all of them
from the same opcheck, plugins, op selection and budget, each with a result for every op
it selected (``run_identity`` records these facts in each run's header), and every op
with exactly one result. Anything else is listed in ``merge_problems`` (and exits 1).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError
from .file_kinds import NAMES, kind
from .formats.json_report import JSON_SCHEMA_VERSION
from .result import OpReport
from .results_file import HEADER_KEY, RUN_KEYS, read_results, run_value
from .selection import in_report_order
from .serialize import report_from_dict
from .shard import parse_shard

#: Facts each shard of one run shares; a difference makes the merge incomplete.
SHARED_KEYS = ("opcheck_version", "plugins", "selection", "budget", "select", "balance")
#: Ops named in a message before "and N more".
SHOWN = 5


def run_identity(plugins: Iterable[str], everything: Iterable[str],
                 selected: Iterable[str]) -> dict[str, Any]:
    """The facts a merge checks, for a run's header: the plugins loaded, the whole
    selection before sharding (its size and a digest: the same on every shard), and the ops
    this run (shard) is to audit."""
    names = sorted(set(everything))
    digest = hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()[:16]
    return {"plugins": sorted(set(plugins)), "selection": {"count": len(names), "digest": digest},
            "selected": sorted(set(selected))}


@dataclass
class Loaded:
    """One input of a merge: the run's metadata and its ops."""

    path: str
    meta: dict[str, Any]
    reports: list[OpReport] = field(default_factory=list)


def load(path: str, role: str = "") -> Loaded:
    """A JSON report (``--format json``) or a results stream (``--results``); ``role``
    names the file in messages (``OLD``, ``--durations``)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        named = f"{role} {path}" if role else repr(path)
        raise UsageError(f"cannot read {named}: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None  # several lines: a results stream
    if isinstance(doc, dict) and "ops" in doc:
        version = doc.get("schema_version")
        if type(version) is not int or not 1 <= version <= JSON_SCHEMA_VERSION:
            readable = "1" if JSON_SCHEMA_VERSION == 1 else f"1 to {JSON_SCHEMA_VERSION}"
            raise UsageError(f"{path!r} has JSON schema_version {version!r}; this opcheck reads "
                             f"{readable} (merge it with the opcheck that wrote it)")
        meta = {k: v for k, v in doc.items() if k not in ("ops", "summary")}
        return Loaded(path, meta, [report_from_dict(op) for op in doc["ops"]])
    problem = _not_a_stream(text, doc)
    if problem:
        named = f"{role} {path}" if role else repr(path)
        raise UsageError(f"{named} is neither a JSON report (opcheck audit --format json) nor a "
                         f"results stream (opcheck audit --results): {problem}")
    results = read_results(path)
    if results.header is None:
        raise UsageError(f"{path!r} is empty: neither a JSON report nor a results stream")
    return Loaded(path, dict(results.header), list(results.reports.values()))


def _not_a_stream(text: str, doc: Any) -> str | None:
    """Why a file that is not a JSON report is not a results stream either (None: it
    starts like one)."""
    if not text.strip():
        return "it is empty"
    if kind(text) in ("baseline", "diff"):
        return f"it is {NAMES[kind(text)]}"
    try:
        first = json.loads(text.splitlines()[0])
    except ValueError:
        return "its first line is not JSON"
    if isinstance(first, dict) and HEADER_KEY in first:
        return None
    if doc is not None:
        return "it is JSON without the \"ops\" list of a report"
    return "its first line is not the header of a results stream"


def merge(loaded: Sequence[Loaded]) -> tuple[dict[str, Any], list[OpReport], list[str]]:
    """The merged metadata and ops, and warnings (missing shards, ops seen twice)."""
    if not loaded:
        raise UsageError("opcheck merge needs at least one report file")
    first = loaded[0]
    for other in loaded[1:]:
        for key in RUN_KEYS:
            mine, theirs = run_value(first.meta, key), run_value(other.meta, key)
            if theirs != mine:
                raise UsageError(
                    f"cannot merge {first.path!r} ({key}={mine!r}) with "
                    f"{other.path!r} ({key}={theirs!r}): shards must audit with "
                    "the same --seed, --mode, --variant and --order"
                )
    paths = [os.path.realpath(item.path) for item in loaded]
    twice = sorted({item.path for item, p in zip(loaded, paths) if paths.count(p) > 1})
    if twice:  # one line, not one warning per op it holds
        raise UsageError(f"{', '.join(repr(p) for p in twice)} given more than once; name each "
                         "shard's file once")
    warnings: list[str] = _differences(loaded)
    ops: dict[str, tuple[OpReport, str]] = {}
    for item in loaded:
        for report in item.reports:
            seen = ops.get(report.name)
            if seen is not None and _figures(seen[0]) != _figures(report):
                warnings.append(f"op {report.name!r} is in {seen[1]!r} and {item.path!r} with "
                                f"different results; keeping the one from {item.path!r}")
            elif seen is not None:
                warnings.append(f"op {report.name!r} has a result in both {seen[1]!r} and "
                                f"{item.path!r}: each op must come from exactly one shard")
            ops[report.name] = (report, item.path)
    warnings += _missing_shards(loaded)
    warnings += incomplete(loaded)
    patterns = list(first.meta.get("select") or [])
    reports = in_report_order([r for r, _ in ops.values()], patterns)
    not_run = sorted({n for item in loaded for n in item.meta.get("not_run") or []} - set(ops))
    from . import __version__

    meta = {
        "tool": "opcheck",
        "opcheck_version": __version__,  # the merging opcheck; each shard's is in merged_from
        **{key: run_value(first.meta, key) for key in RUN_KEYS},
        "select": patterns,
        "shard": None,
        "duration": sum(float(item.meta.get("duration") or 0.0) for item in loaded),
        "merged_from": [{"path": item.path, "shard": item.meta.get("shard"),
                         "opcheck_version": item.meta.get("opcheck_version")} for item in loaded],
        "not_run": not_run,
    }
    for key in ("plugins", "selection", "budget"):
        if key in first.meta:
            meta[key] = first.meta[key]
    if all("selected" in item.meta for item in loaded):
        meta["selected"] = sorted({n for item in loaded for n in item.meta["selected"]})
    if warnings:
        meta["merge_problems"] = list(warnings)
    return meta, reports, warnings


def _differences(loaded: Sequence[Loaded]) -> list[str]:
    """The shared run facts on which inputs disagree, each naming both sides."""
    first, problems = loaded[0], []
    for key in SHARED_KEYS:
        values = [item.meta.get(key) for item in loaded]
        odd = next((item for item, v in zip(loaded, values) if v != values[0]), None)
        if odd is None:
            continue
        mine, theirs = first.meta.get(key), odd.meta.get(key)
        if key == "plugins" and isinstance(mine, list) and isinstance(theirs, list):
            only_a, only_b = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
            detail = "; ".join(part for part in (
                f"only {first.path!r} loaded {', '.join(only_a)}" if only_a else "",
                f"only {odd.path!r} loaded {', '.join(only_b)}" if only_b else "") if part)
        elif key == "selection" and isinstance(mine, dict) and isinstance(theirs, dict):
            detail = (f"{first.path!r} selected {mine.get('count')} ops, {odd.path!r} "
                      f"{theirs.get('count')} (digests {mine.get('digest')} and "
                      f"{theirs.get('digest')})")
        else:
            detail = f"{first.path!r} has {mine!r}, {odd.path!r} has {theirs!r}"
        what = {"opcheck_version": "were written by different opcheck versions",
                "plugins": "ran with different plugins (-p)",
                "selection": "selected different ops (NAME patterns, or plugins that declare "
                             "different ops)",
                "budget": "ran with different --budget",
                "select": "ran with different NAME patterns",
                "balance": "were sharded with different --durations files"}[key]
        problems.append(f"the inputs {what}: {detail}")
    return problems


def incomplete(loaded: Sequence[Loaded]) -> list[str]:
    """Inputs without a result for every op they selected (a results stream cut short, an
    interrupted run), and a selection the shards do not cover."""
    problems = []
    for item in loaded:
        selected = item.meta.get("selected")
        got = {r.name for r in item.reports}
        if isinstance(selected, list):
            missing = [n for n in selected if n not in got]
        else:  # written before run headers listed the selection
            missing = list(item.meta.get("not_run") or [])
        if missing:
            where = f" (shard {item.meta['shard']})" if item.meta.get("shard") else ""
            total = len(selected) if isinstance(selected, list) else len(got) + len(missing)
            problems.append(f"{item.path!r}{where} is incomplete: {len(missing)} of its {total} "
                            f"ops have no result ({_names(missing)}); rerun it with --resume")
    selections = [item.meta.get("selection") for item in loaded]
    if all(isinstance(s, dict) and s == selections[0] for s in selections) and all(
            isinstance(item.meta.get("selected"), list) for item in loaded):
        count = selections[0].get("count")
        covered = {n for item in loaded for n in item.meta["selected"]}
        if isinstance(count, int) and len(covered) != count and not _missing_shards(loaded):
            problems.append(f"the inputs select {len(covered)} ops between them, but the run "
                            f"selected {count}")
    return problems


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


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


def read_durations(path: str) -> dict[str, float]:
    """Seconds per op from a JSON report or a results stream (``--durations FILE``, which
    balances shards: ``shard.balanced``)."""
    return {r.name: float(r.duration or 0.0) for r in load(path, "--durations").reports}
