"""The ``opcheck`` command: a thin argparse front end over discover/run/report.

Results go to stdout (or ``-o``); warnings, the progress bar (on a terminal only) and the
closing summary go to stderr. Exit status: 0 all passed, 1 something failed or errored,
2 usage error; an interrupted audit exits 128 + the signal's number (130 for Ctrl-C).
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import __version__
from .budget import ENV as BUDGET_ENV
from .budget import resolve as resolve_budget
from .choices import MODES  # noqa: F401 (opcheck.cli.MODES, as before)
from .cli_audit_files import read_baseline as _baseline
from .cli_audit_files import resume_results as _resume
from .cli_audit_files import settle_baseline as _settle_baseline
from .cli_ops import list_ops, show_op
from .cli_parser import build_parser
from .cli_reports import diff_command, merge_command
from .errors import InputError, UsageError
from .escape import visible
from .expectation_reports import Expectations
from .expectations import is_ok
from .interrupts import interruptible
from .loading import guarded_discover
from .progress import Progress
from .report_files import closing_summary as _closing_summary
from .report_files import report_outputs as _outputs
from .report_files import write_atomic
from .report_files import write_reports as _write_reports
from .runner import (
    RunOptions,
    WorkerError,
    available_cores,
    prestart,
    run_ops,
)
from .selection import all_exact as _all_exact
from .selection import in_report_order, plugin_error_reports, select
from .selection import with_variant as _with_variant
from .shard import Shard, balance_digest, shard_filter

if TYPE_CHECKING:
    from .plugin_manager import Registry
    from .result import OpReport

__all__ = ["build_parser", "main", "plugin_error_reports", "select", "write_atomic"]



def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # -p imports from the current directory, as python -m
    try:
        if args.command == "merge":
            return merge_command(args)
        if args.command == "diff":
            return diff_command(args)
        if args.command == "audit" and (args.executor == "dask" or args.scheduler):
            _check_dask(args)
        elif args.command == "audit" and args.jobs != 1:
            prestart(args.jobs or available_cores())  # the workers' imports overlap ours
        registry = guarded_discover(args.plugins)
        if args.command == "list":
            return _flushed(list_ops(registry))
        if args.command == "show":
            return _flushed(show_op(registry, args.name, args.json))
        return _audit(registry, args)
    except (UsageError, InputError, WorkerError) as exc:
        print(visible(f"opcheck: error: {exc}"), file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`opcheck list | head`): stop quietly, as a killed-by-SIGPIPE
        # program would; point stdout at devnull so the interpreter's final flush is silent.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + getattr(signal, "SIGPIPE", 13)
    except OSError as exc:
        # A report or results file that could not be written after all (disk full, a
        # directory that vanished): say which, without a traceback.
        where = f" {exc.filename}" if exc.filename else ""
        print(f"opcheck: error: cannot write{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def _flushed(code: int) -> int:
    sys.stdout.flush()  # inside main's try: a reader that went away is a BrokenPipeError here
    return code


# --- audit ---------------------------------------------------------------------------------


def _audit(registry: Registry, args: argparse.Namespace) -> int:
    import threading

    started = time.perf_counter()
    threads = set(threading.enumerate())
    if args.budget is not None:  # read by opcheck.budget here and in the worker processes
        os.environ[BUDGET_ENV] = repr(args.budget)
    resolve_budget(args.budget)  # a bad $OPCHECK_BUDGET: a usage error before any op runs
    outputs = _outputs(args.format, args.output)
    names, broken = _selected(registry, args)
    _prepare_process(args)
    everything = [*names, *(r.name for r in broken)]
    names, broken, durations = _sharded(args, names, broken)
    meta = _run_header(args, registry, everything, [*names, *(r.name for r in broken)], durations)
    baseline = _baseline(args, registry, [r.name for r in broken])
    if baseline is not None:
        meta["baseline"] = baseline.path
    reports, writer = _resume(args, meta, wanted={*names, *(r.name for r in broken)},
                              registry=registry)
    expect = Expectations(registry, names, args.variant, args.seed, args.mode, args.order)
    for report in [*broken, *expect.settled(n for n in names if n not in reports)]:
        if report.name not in reports:  # broken plugins; skipped ops; a selector matching nothing
            reports[report.name] = report
            if writer:
                writer.write(report)
    todo = [n for n in names if n not in reports]
    total = len(names) + len(broken)
    progress = Progress(total, done=total - len(todo))
    interrupted = _collect(_running(todo, args, registry), reports, writer, progress,
                           expect, baseline)
    ordered = in_report_order(list(reports.values()), args.names)
    if baseline is not None:
        _settle_baseline(baseline, ordered, args, [*registry, *(r.name for r in broken)])
    elapsed = time.perf_counter() - started
    meta.update(duration=elapsed, not_run=[n for n in names if n not in reports])
    _write_reports(outputs, ordered, meta)
    _closing_summary(ordered, elapsed)
    if interrupted is not None:
        where = f"; to finish, run the same command with --resume {writer.path}" if writer else \
            "; pass --results FILE to keep finished ops across an interruption"
        print(f"opcheck: interrupted by {signal.Signals(interrupted).name} after "
              f"{total - len(meta['not_run'])} of {total} ops{where}", file=sys.stderr)
        return _leave(128 + int(interrupted), threads)
    return _leave(0 if all(is_ok(r.status) for r in ordered) else 1, threads)


def _selected(registry: Registry, args: argparse.Namespace) -> tuple[list[str], list[OpReport]]:
    """The ops the NAMEs and ``--variant`` select, and the error entries of the broken
    plugins the NAMEs hold (a broken plugin they leave out is a warning)."""
    broken = plugin_error_reports(registry, args.names)
    for err in registry.errors:  # a broken plugin the selection leaves out still gets a say
        if not any(str(err) in r.message for r in broken):
            print(visible(f"opcheck: warning: {err}"), file=sys.stderr)
    names = select(registry, args.names, [r.name for r in broken]) if args.names or registry else []
    if not names and not broken:
        raise UsageError("no ops were discovered; install a plugin or pass -p MODULE")
    return _with_variant(registry, names, args.variant, exact=_all_exact(args.names)), broken


def _prepare_process(args: argparse.Namespace) -> None:
    """Crash tracebacks for in-process audits; options this platform cannot honour."""
    if args.jobs == 1 and not faulthandler.is_enabled():
        # In-process, an op that crashes the interpreter (a segfault in C code, os.abort)
        # takes opcheck with it: leave the Python stack of the crash on stderr.
        # On a copy of stderr: while an op runs, fd 2 goes to its output capture.
        faulthandler.enable(file=os.fdopen(os.dup(2), "w"), all_threads=False)
    if args.max_memory and sys.platform == "win32":
        raise UsageError("--max-memory needs a POSIX system (it sets RLIMIT_AS); drop it on Windows")


def _sharded(
    args: argparse.Namespace, names: list[str], broken: list[OpReport]
) -> tuple[list[str], list[OpReport], dict[str, float] | None]:
    """The ops and error entries in this ``--shard``, and the ``--durations`` that
    balanced it."""
    shard: Shard | None = args.shard
    if args.durations and shard is None:
        raise UsageError("--durations FILE balances --shard K/N; add --shard")
    from .merge import read_durations

    durations = read_durations(args.durations) if args.durations else None
    holds = shard_filter([*names, *(r.name for r in broken)], shard, durations)
    return [n for n in names if holds(n)], [r for r in broken if holds(r.name)], durations


def _run_header(args: argparse.Namespace, registry: Registry, everything: list[str],
                audited: list[str], durations: dict[str, float] | None) -> dict[str, Any]:
    """The run's facts every report and results stream carries; ``merge`` and ``--resume``
    compare them (``everything``: the selection before ``--shard``)."""
    from .merge import run_identity

    shard: Shard | None = args.shard
    meta: dict[str, Any] = {
        "tool": "opcheck", "opcheck_version": __version__, "seed": args.seed, "mode": args.mode,
        "variant": args.variant, "order": args.order, "select": list(args.names), "shard": str(shard) if shard else None,
        # the budget shapes only the default mode's checks; merges compare it
        "budget": resolve_budget(args.budget) if args.mode == "auto" else None,
    }
    meta.update(run_identity([p.name for p in registry.plugins], everything, audited))
    if durations is not None:  # shards balanced by different files would overlap
        meta["balance"] = balance_digest(durations)
    return meta


def _running(todo: list[str], args: argparse.Namespace, registry: Registry) -> Any:
    """The reports of ``todo`` as each op finishes, from local workers or a Dask cluster."""
    options = RunOptions(seed=args.seed, mode=args.mode, variant=args.variant, order=args.order,
                         plugins=tuple(args.plugins), jobs=args.jobs or available_cores(),
                         isolate=args.jobs != 1 or args.executor == "dask",
                         timeout=args.timeout or None, max_memory=args.max_memory)
    if args.executor == "dask":
        from .dask_executor import run_ops_dask

        return run_ops_dask(todo, options, registry, args.scheduler)
    return run_ops(todo, options, registry)


def _collect(running: Any, reports: dict[str, OpReport], writer: Any, progress: Progress,
             expect: Expectations, baseline: Any) -> int | None:
    """Each finished op's report, judged by its expectations and the baseline, into
    ``reports`` and the results stream; the signal that interrupted the run, if one did."""
    try:
        with interruptible() as stopped:
            try:
                for report in running:
                    report = expect(report)
                    if baseline is not None:
                        report = baseline.apply(report)
                    reports[report.name] = report
                    if writer:
                        writer.write(report)
                    progress.update(report)
            except KeyboardInterrupt:
                return int(stopped.get("signal", signal.SIGINT))
            finally:
                running.close()  # stops the workers, whatever ended the loop
    finally:
        progress.close()
        if writer:
            writer.close()
    return None


def _leave(code: int, before: set[Any]) -> int:
    """``code``; but if an op (audited in this process) left a non-daemon thread running,
    which would keep the interpreter from exiting, flush and exit now."""
    import threading

    if any(not t.daemon and t.is_alive() for t in set(threading.enumerate()) - before):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _check_dask(args: argparse.Namespace) -> None:
    if args.executor != "dask":
        raise UsageError("--scheduler ADDRESS is for --executor dask; add it, or drop --scheduler")
    from .dask_executor import require_distributed

    require_distributed()
