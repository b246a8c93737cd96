"""The ``opcheck`` command: a thin argparse front end over discover/run/report.

Results go to stdout (or ``-o``); warnings, the progress bar (on a terminal only) and the
closing summary go to stderr. Exit status: 0 all passed, 1 something failed or errored,
2 usage error; an interrupted audit exits 128 + the signal's number (130 for Ctrl-C).
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import __version__
from .choices import MODES, parse_seed
from .errors import InputError, UsageError
from .escape import visible
from .expectations import Expectations, is_ok
from .formats import FORMATS, parse_formats
from .interrupts import interruptible
from .loading import guarded_discover
from .progress import Progress
from .runner import (
    DEFAULT_TIMEOUT,
    RunOptions,
    WorkerError,
    available_cores,
    prestart,
    run_ops,
)
from .cli_audit_files import RESULTS_NAME
from .cli_audit_files import read_baseline as _baseline
from .cli_audit_files import resume_results as _resume
from .cli_audit_files import settle_baseline as _settle_baseline
from .cli_ops import list_ops, show_op
from .cli_reports import diff_command, merge_command
from .report_files import write_atomic
from .report_files import closing_summary as _closing_summary
from .report_files import report_outputs as _outputs
from .report_files import write_reports as _write_reports
from .selection import all_exact as _all_exact
from .selection import in_report_order, plugin_error_reports, select
from .selection import with_variant as _with_variant
from .shard import Shard, balance_digest, parse_shard, shard_filter

if TYPE_CHECKING:
    from .plugin_manager import Registry

__all__ = ["build_parser", "main", "plugin_error_reports", "select", "write_atomic"]

def build_parser() -> argparse.ArgumentParser:
    plugin_opts = argparse.ArgumentParser(add_help=False)
    plugin_opts.add_argument(
        "-p", dest="plugins", action="append", default=[], metavar="MODULE",
        help="load an extra plugin module (repeatable); -p no:NAME blocks plugin NAME",
    )
    report_opts = argparse.ArgumentParser(add_help=False)
    report_opts.add_argument(
        "--format", type=_formats, default=["text"], metavar="FORMAT[,FORMAT...]",
        help=f"report format(s): {', '.join(FORMATS)} (default text); several need -o DIR",
    )
    report_opts.add_argument(
        "-o", "--output", metavar="PATH",
        help="write the report to this file instead of stdout; a directory (several formats, "
             "a trailing /, or an existing directory) gets one report.* file per format",
    )
    parser = argparse.ArgumentParser(
        prog="opcheck", description="Audit the gradients of op plugins with finite differences."
    )
    parser.add_argument("--version", action="version", version=f"opcheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    sub.add_parser("list", parents=[plugin_opts], help="list every discovered op and its plugin")
    show = sub.add_parser("show", parents=[plugin_opts], help="show one op's declaration")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true", help="print the JSON schema of its inputs")

    run = sub.add_parser("audit", parents=[plugin_opts, report_opts], help="audit ops (all by default)")
    run.add_argument("names", nargs="*", metavar="NAME", help="op names or globs such as 'mylib.*'")
    run.add_argument("--seed", type=_seed, default=0, help="seed for inputs and dout (default 0)")
    run.add_argument("--mode", choices=MODES, default="full",
                     help="full: every element; fast: random projections (default full)")
    run.add_argument("--order", type=int, choices=(1, 2), default=2,
                     help="2: also check double_backward where an op declares it (default); "
                          "1: first-order rules only (backward, jvp, the adjoint test)")
    run.add_argument("--variant", metavar="LABEL",
                     help="audit only this shape variant or attr configuration, e.g. default, "
                          "N=1 or 'stride=2 pad=0' (a subset such as stride=2 picks every "
                          "variant holding it)")
    batch = run.add_argument_group("batch audits")
    batch.add_argument("-j", "--jobs", type=_positive_int, metavar="N",
                       help="worker processes (default: the number of cores); 1 audits in this "
                            "process, without isolation")
    batch.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                       help=f"stop an op that runs longer and report it as an error "
                            f"(default {DEFAULT_TIMEOUT:g}; 0 for none)")
    batch.add_argument("--max-memory", type=_size, metavar="SIZE",
                       help="address-space limit per worker, e.g. 2G: an op that needs more "
                            "gets a MemoryError (default: none)")
    batch.add_argument("--results", metavar="FILE",
                       help=f"stream each op's result to FILE (JSON Lines) as it finishes "
                            f"(default with -o DIR: DIR/{RESULTS_NAME})")
    batch.add_argument("--resume", metavar="FILE",
                       help="reuse the results in FILE, audit only the missing ops, and keep "
                            "streaming to FILE")
    batch.add_argument("--shard", type=_shard, metavar="K/N",
                       help="audit the K-th of N deterministic slices of the selected ops")
    batch.add_argument("--executor", choices=("local", "dask"), default="local",
                       help="local: --jobs worker processes here (default); dask: each op a task "
                            "on a Dask cluster (pip install \"opcheck[dask]\")")
    batch.add_argument("--scheduler", metavar="ADDRESS",
                       help="with --executor dask: the scheduler's address, e.g. "
                            "tcp://10.0.0.5:8786 (default: a local cluster of --jobs processes)")
    batch.add_argument("--durations", metavar="FILE",
                       help="with --shard: balance the slices by each op's time in FILE (a "
                            "previous JSON report or results stream), longest first")
    known = run.add_argument_group("known failures")
    known.add_argument("--baseline", metavar="FILE",
                       help="a JSON file of known failures (op name -> reason): a listed op that "
                            "fails is an xfail, one that passes an xpass")
    known.add_argument("--update-baseline", action="store_true",
                       help="rewrite --baseline FILE from this run: add new failures, remove "
                            "fixed ones, keep the reasons already there")
    known.add_argument("--baseline-reason", metavar="TEXT",
                       help="the reason --update-baseline gives new failures (default: "
                            "'new in <date>')")

    merge = sub.add_parser("merge", parents=[report_opts],
                           help="combine shard reports (JSON or --results files) into one report")
    merge.add_argument("files", nargs="+", metavar="FILE")

    diff = sub.add_parser("diff", help="compare two runs (JSON reports or --results files): "
                                       "regressions, fixes, new and removed ops, error growth")
    diff.add_argument("old", metavar="OLD")
    diff.add_argument("new", metavar="NEW")
    diff.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                      help="text (default), markdown (a pull-request comment) or json")
    diff.add_argument("--growth", type=_factor, default=10.0, metavar="FACTOR",
                      help="list ops whose max_rel_error grew more than FACTOR times (default 10)")
    diff.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    return parser


def _argument_type(parse: Any) -> Any:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except (UsageError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__.lstrip("_")
    return convert


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{text} is not a positive number of processes")
    return value


def _nonnegative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError(f"{text} is not a number of seconds >= 0")
    return value


def _growth_factor(text: str) -> float:
    value = float(text)
    if not value >= 1.0:
        raise ValueError(f"{text} is not a growth factor; use a number >= 1, e.g. 10")
    return value


def _bytes(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"{text!r} is not a size such as 512M or 2G")
    scale = 1024 ** " kmgt".index(match[2].lower() or " ")
    return int(float(match[1]) * scale)


_formats = _argument_type(parse_formats)
_positive_int = _argument_type(_positive)
_seconds = _argument_type(_nonnegative)
_seed = _argument_type(parse_seed)
_size = _argument_type(_bytes)
_shard = _argument_type(parse_shard)
_factor = _argument_type(_growth_factor)


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
    outputs = _outputs(args.format, args.output)
    broken = plugin_error_reports(registry, args.names)
    for err in registry.errors:  # a broken plugin the selection leaves out still gets a say
        if not any(str(err) in r.message for r in broken):
            print(visible(f"opcheck: warning: {err}"), file=sys.stderr)
    names = select(registry, args.names, [r.name for r in broken]) if args.names or registry else []
    if not names and not broken:
        raise UsageError("no ops were discovered; install a plugin or pass -p MODULE")
    names = _with_variant(registry, names, args.variant, exact=_all_exact(args.names))
    if args.jobs == 1 and not faulthandler.is_enabled():
        # In-process, an op that crashes the interpreter (a segfault in C code, os.abort)
        # takes opcheck with it: leave the Python stack of the crash on stderr.
        # On a copy of stderr: while an op runs, fd 2 goes to its output capture.
        faulthandler.enable(file=os.fdopen(os.dup(2), "w"), all_threads=False)
    if args.max_memory and sys.platform == "win32":
        raise UsageError("--max-memory needs a POSIX system (it sets RLIMIT_AS); drop it on Windows")
    shard: Shard | None = args.shard
    everything = [*names, *(r.name for r in broken)]
    if args.durations and shard is None:
        raise UsageError("--durations FILE balances --shard K/N; add --shard")
    from .merge import read_durations

    durations = read_durations(args.durations) if args.durations else None
    holds = shard_filter(everything, shard, durations)
    names = [n for n in names if holds(n)]
    broken = [r for r in broken if holds(r.name)]
    meta: dict[str, Any] = {
        "tool": "opcheck", "opcheck_version": __version__, "seed": args.seed, "mode": args.mode,
        "variant": args.variant, "select": list(args.names), "shard": str(shard) if shard else None,
    }
    from .merge import run_identity

    meta.update(run_identity([p.name for p in registry.plugins], everything,
                             [*names, *(r.name for r in broken)]))
    if durations is not None:  # shards balanced by different files would overlap
        meta["balance"] = balance_digest(durations)
    baseline = _baseline(args, registry, [r.name for r in broken])
    if baseline is not None:
        meta["baseline"] = baseline.path
    reports, writer = _resume(args, meta, wanted={*names, *(r.name for r in broken)},
                              registry=registry)
    for report in broken:
        if report.name not in reports:
            reports[report.name] = report
            if writer:
                writer.write(report)
    expect = Expectations(registry, names, args.variant, args.seed, args.mode)
    for report in expect.settled(n for n in names if n not in reports):
        reports[report.name] = report  # skipped, or a selector that matches nothing
        if writer:
            writer.write(report)
    todo = [n for n in names if n not in reports]
    jobs = args.jobs or available_cores()
    options = RunOptions(seed=args.seed, mode=args.mode, variant=args.variant, order=args.order,
                         plugins=tuple(args.plugins), jobs=jobs,
                         isolate=args.jobs != 1 or args.executor == "dask",
                         timeout=args.timeout or None, max_memory=args.max_memory)
    total = len(names) + len(broken)
    interrupted = None
    progress = Progress(total, done=total - len(todo))
    if args.executor == "dask":
        from .dask_executor import run_ops_dask

        running = run_ops_dask(todo, options, registry, args.scheduler)
    else:
        running = run_ops(todo, options, registry)
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
                interrupted = stopped.get("signal", signal.SIGINT)
            finally:
                running.close()  # stops the workers, whatever ended the loop
    finally:
        progress.close()
        if writer:
            writer.close()
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
