"""The files ``opcheck audit`` reads and keeps besides its reports: the results stream
(``--results``, ``--resume``: what is already audited, what changed since) and the
``--baseline`` of known failures."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import UsageError
from .escape import visible
from .fingerprint import computed_from
from .report_files import check_writable, names_directory, report_outputs, write_atomic
from .result import OpReport
from .results_file import ResultsWriter, check_compatible, read_results, stale

if TYPE_CHECKING:
    from .plugin_manager import Registry

RESULTS_NAME = "results.jsonl"


def read_baseline(args: argparse.Namespace, registry: Registry, broken: list[str]) -> Any:
    """The ``--baseline`` file, read before the audit (a bad file is a usage error now,
    not after an hour); entries for ops that no longer exist are reported."""
    if args.baseline is None:
        if args.update_baseline or args.baseline_reason:
            raise UsageError("--update-baseline and --baseline-reason need --baseline FILE")
        return None
    from .baseline import load

    baseline = load(args.baseline, missing_ok=args.update_baseline)
    if args.update_baseline:
        check_writable(args.baseline, "--baseline")
    stale = baseline.stale([*registry, *broken])
    if stale:
        fix = "--update-baseline removes them" if not args.update_baseline else "removing them"
        print(f"opcheck: warning: baseline {args.baseline} lists {len(stale)} op(s) that no "
              f"longer exist: {', '.join(stale)} ({fix})", file=sys.stderr)
    return baseline


def settle_baseline(baseline: Any, reports: list[OpReport], args: argparse.Namespace,
                     existing: list[str]) -> None:
    """Judge every op (resumed ones too) by the baseline; with ``--update-baseline``,
    rewrite the file from this run and judge by the new one."""
    from .baseline import describe_update, dumps

    for report in reports:
        baseline.apply(report)
    if not args.update_baseline:
        return
    old = dict(baseline.entries)
    new = baseline.updated(reports, existing, args.baseline_reason)
    write_atomic(args.baseline, dumps(new))
    baseline.rejudge(reports, new)
    print(f"opcheck: baseline {args.baseline} updated: {describe_update(old, new)}",
          file=sys.stderr)


def resume_results(
    args: argparse.Namespace, meta: dict[str, Any], wanted: set[str], registry: Registry
) -> tuple[dict[str, OpReport], ResultsWriter | None]:
    """Results already on disk (``--resume``), and the writer for the results stream."""
    if args.resume and args.results and os.path.abspath(args.resume) != os.path.abspath(args.results):
        raise UsageError("--resume FILE keeps streaming to FILE; drop --results, or give both the same file")
    path = args.resume or args.results
    if path is None and args.output and names_directory(args.format, args.output):
        path = os.path.join(args.output, RESULTS_NAME)
    if path is not None:
        check_writable(path, "--resume" if args.resume else "--results" if args.results else "-o")
        _not_a_report(path, args)
        if not args.resume:
            _not_someone_elses(path, "--results" if args.results else "-o")
    previous = None
    if args.resume and os.path.exists(args.resume):
        _a_results_stream(args.resume)
        previous = read_results(args.resume)
        if previous.header is None and os.path.getsize(args.resume):  # not ours: keep it
            raise UsageError(f"--resume {args.resume} is not a results stream (opcheck audit "
                             "--results): it has no complete header line; give --resume a "
                             "results stream, or a new file to start one")
        check_compatible(previous.header, meta, args.resume)

    def now(name: str) -> dict[str, Any]:
        return computed_from(registry.ops.get(name), __version__, args.seed, args.mode)

    done = {n: r for n, r in (previous.reports.items() if previous else ()) if n in wanted}
    changed = sorted(n for n in done if previous is not None and stale(previous, n, now(n)))
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        print(visible(f"opcheck: {len(changed)} op(s) changed since {args.resume} was written "
                      f"(declaration, code, opcheck version, seed or mode), audited again: "
                      f"{shown}"), file=sys.stderr)
        for name in changed:
            del done[name]
    retimed = sorted(n for n, r in done.items() if _longer_timeout(r, args.timeout))
    if retimed:  # the timeout message's advice is "raise --timeout": resuming with it works
        shown = ", ".join(retimed[:5]) + (f" and {len(retimed) - 5} more" if len(retimed) > 5 else "")
        print(visible(f"opcheck: {len(retimed)} op(s) timed out under a shorter --timeout in "
                      f"{args.resume}, audited again: {shown}"), file=sys.stderr)
        for name in retimed:
            del done[name]
    if args.resume and previous is None:  # docs/batch.md: one command for the first run too
        print(f"opcheck: starting a new results stream {args.resume}: it does not exist yet, "
              "so there is nothing to resume (check the path if you meant an existing one)",
              file=sys.stderr)
    elif args.resume:
        print(f"opcheck: resuming from {args.resume}: {len(done)} of {len(wanted)} ops already "
              "audited", file=sys.stderr)
    writer = ResultsWriter(path, meta, resume=previous, computed_from=now) if path else None
    return dict(done), writer


def _a_results_stream(path: str) -> None:
    """Refuse a ``--resume`` file that is a report or a baseline, saying which it is."""
    from .file_kinds import wrong_kind

    with open(path, encoding="utf-8", errors="replace") as handle:
        wrong = wrong_kind(handle.read(), "stream")
    if wrong:
        raise UsageError(f"--resume {path} {wrong}; resume from the results stream of the "
                         "interrupted run, or give a new file to start one")


def _longer_timeout(report: OpReport, timeout: float | None) -> bool:
    """Did ``report`` time out under a shorter timeout than this run's (0: none)?"""
    from .timeouts import timed_out_after

    before = timed_out_after(report.message or "")  # (an error_report's own message)
    return report.status == "error" and before is not None and (not timeout or timeout > before)


def _not_someone_elses(path: str, option: str) -> None:
    """A new results stream may replace an old one, never another file (a plugin's source,
    a report): refuse a file that exists, is not empty and does not start with a header."""
    from .file_kinds import kind

    if not os.path.isfile(path) or not os.path.getsize(path):
        return
    with open(path, encoding="utf-8", errors="replace") as handle:
        first = handle.readline(1 << 16)  # (a stream's header line is enough to know it)
    if kind(first) != "stream":
        raise UsageError(f"{option} {path} exists and is not a results stream: opcheck will not "
                         "overwrite it; give a new file name, or remove the file first")


def _not_a_report(path: str, args: argparse.Namespace) -> None:
    """The results stream and a report may not be one file: the report would overwrite the
    stream at the end of the run (and --resume would find a report)."""
    reports = [p for _, p in report_outputs(args.format, args.output) if p is not None]
    if any(os.path.realpath(path) == os.path.realpath(p) for p in reports):
        option = "--resume" if args.resume else "--results"
        raise UsageError(f"{option} {path} and -o {args.output} name the same file: the report "
                         "would overwrite the results stream; give them different paths")
