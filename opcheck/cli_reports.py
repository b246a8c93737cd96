"""``opcheck merge`` and ``opcheck diff``: commands that read report files, not plugins."""

from __future__ import annotations

import argparse
import sys
import time

from .expectations import is_ok
from .report import summary_line
from .report_files import check_writable, report_outputs, write_atomic, write_reports


def merge_command(args: argparse.Namespace) -> int:
    from .merge import load, merge

    started = time.perf_counter()
    outputs = report_outputs(args.format, args.output)
    meta, reports, warnings = merge([load(path) for path in args.files])
    for warning in warnings:
        print(f"opcheck: warning: {warning}", file=sys.stderr)
    write_reports(outputs, reports, meta)
    print(summary_line(reports, time.perf_counter() - started), file=sys.stderr)
    complete = not warnings and not meta["not_run"]
    return 0 if complete and all(is_ok(r.status) for r in reports) else 1


def diff_command(args: argparse.Namespace) -> int:
    from .comparison import compare
    from .formats.diff import headline, render
    from .merge import incomplete, load

    old, new = load(args.old, "OLD"), load(args.new, "NEW")
    if args.output:
        check_writable(args.output, "-o")
    result = compare(old.reports, new.reports, factor=args.growth, old_meta=old.meta,
                     new_meta=new.meta, old_path=args.old, new_path=args.new)
    from .comparison import shard_note

    note = shard_note(old.meta, new.meta, args.old, args.new)
    if note:  # stdout may go to a pull-request comment: say it where the user looks too
        print(f"opcheck diff: warning: {note}", file=sys.stderr)
    # A run cut short (a killed job's results stream) cannot vouch for the ops it lost:
    # their absence is not "removed", and a gate on NEW must not pass on it.
    cut_short = incomplete([new])
    for problem in incomplete([old]) + cut_short:
        print(f"opcheck diff: warning: {problem}", file=sys.stderr)
    text = render(args.format, result)
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    print(f"opcheck diff: {headline(result)}", file=sys.stderr)
    return 1 if result.regressions or cut_short else 0
