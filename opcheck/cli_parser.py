"""The ``opcheck`` command's arguments: every subcommand and option, and the argument
types that turn a bad value into a usage error naming it (exit 2)."""

from __future__ import annotations

import argparse
import math
import re
from typing import Any

from . import __version__
from .budget import parse as parse_budget
from .choices import MODES, parse_seed
from .cli_audit_files import RESULTS_NAME
from .errors import UsageError
from .formats import FORMATS, parse_formats
from .runner import DEFAULT_TIMEOUT
from .shard import parse_shard


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opcheck", description="Audit the gradients of op plugins with finite differences."
    )
    parser.add_argument("--version", action="version", version=f"opcheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    plugin_opts, report_opts = _plugin_options(), _report_options()
    sub.add_parser("list", parents=[plugin_opts], help="list every discovered op and its plugin")
    show = sub.add_parser("show", parents=[plugin_opts], help="show one op's declaration")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true", help="print the JSON schema of its inputs")
    run = sub.add_parser("audit", parents=[plugin_opts, report_opts], help="audit ops (all by default)")
    _audit_options(run)
    _batch_options(run.add_argument_group("batch audits"))
    _known_failure_options(run.add_argument_group("known failures"))
    merge = sub.add_parser("merge", parents=[report_opts],
                           help="combine shard reports (JSON or --results files) into one report")
    merge.add_argument("files", nargs="+", metavar="FILE")
    _diff_options(sub.add_parser("diff", help="compare two runs (JSON reports or --results "
                                              "files): regressions, fixes, new and removed ops, "
                                              "error growth"))
    return parser


def _plugin_options() -> argparse.ArgumentParser:
    """``-p``, shared by the commands that discover plugins."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "-p", dest="plugins", action="append", default=[], metavar="MODULE",
        help="load an extra plugin module (repeatable); -p no:NAME blocks plugin NAME",
    )
    return options


def _report_options() -> argparse.ArgumentParser:
    """``--format`` and ``-o``, shared by the commands that write a report."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--format", type=_formats, default=["text"], metavar="FORMAT[,FORMAT...]",
        help=f"report format(s): {', '.join(FORMATS)} (default text); several need -o DIR",
    )
    options.add_argument(
        "-o", "--output", metavar="PATH",
        help="write the report to this file instead of stdout; a directory (several formats, "
             "a trailing /, or an existing directory) gets one report.* file per format",
    )
    return options


def _audit_options(run: argparse.ArgumentParser) -> None:
    """What ``opcheck audit`` checks: which ops, seed, mode, budget, order, variant."""
    run.add_argument("names", nargs="*", metavar="NAME", help="op names or globs such as 'mylib.*'")
    run.add_argument("--seed", type=_seed, default=0, help="seed for inputs and dout (default 0)")
    run.add_argument("--mode", choices=MODES, default="auto",
                     help="auto: every element where it fits in --budget, else projections plus "
                          "a covering sample (default); full: every element; fast: random "
                          "projections")
    run.add_argument("--budget", type=_budget, metavar="SECONDS",
                     help="seconds one op's default (auto) audit may spend choosing what to "
                          "check element by element (default 5)")
    run.add_argument("--order", type=int, choices=(1, 2), default=2,
                     help="2: also check double_backward where an op declares it (default); "
                          "1: first-order rules only (backward, jvp, the adjoint test)")
    run.add_argument("--variant", metavar="LABEL",
                     help="audit only this shape variant or attr configuration, e.g. default, "
                          "N=1 or 'stride=2 pad=0' (a subset such as stride=2 picks every "
                          "variant holding it)")


def _batch_options(batch: Any) -> None:
    """How ``opcheck audit`` runs many ops: processes, limits, results stream, shards."""
    batch.add_argument("-j", "--jobs", type=_positive_int, metavar="N",
                       help="worker processes (default: the number of cores); 1 audits in this "
                            "process, without isolation")
    batch.add_argument("--timeout", type=_timeout, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                       help=f"stop an op that runs longer and report it as an error "
                            f"(default {DEFAULT_TIMEOUT:g}; 0 or inf for none; at most "
                            f"{MAX_TIMEOUT:g})")
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


def _known_failure_options(known: Any) -> None:
    """``--baseline`` and how ``--update-baseline`` rewrites it."""
    known.add_argument("--baseline", metavar="FILE",
                       help="a JSON file of known failures (op name -> reason): a listed op that "
                            "fails is an xfail, one that passes an xpass")
    known.add_argument("--update-baseline", action="store_true",
                       help="rewrite --baseline FILE from this run: add new failures, remove "
                            "fixed ones, keep the reasons already there")
    known.add_argument("--baseline-reason", metavar="TEXT",
                       help="the reason --update-baseline gives new failures (default: "
                            "'new in <date>')")


def _diff_options(diff: argparse.ArgumentParser) -> None:
    """``opcheck diff OLD NEW``: its files, format and growth factor."""
    diff.add_argument("old", metavar="OLD")
    diff.add_argument("new", metavar="NEW")
    diff.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                      help="text (default), markdown (a pull-request comment) or json")
    diff.add_argument("--growth", type=_factor, default=10.0, metavar="FACTOR",
                      help="list ops whose max_rel_error grew more than FACTOR times (default 10)")
    diff.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def _argument_type(parse: Any) -> Any:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except (UsageError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__.lstrip("_")
    return convert


def _number(text: str, kind: type = float) -> Any:
    """``text`` as a number, or nan (-1 for an int), which the callers' range checks refuse
    in their own words rather than Python's "could not convert string to float"."""
    try:
        return kind(text)
    except ValueError:
        return math.nan if kind is float else -1


def _positive(text: str) -> int:
    value = _number(text, int)
    if value < 1:
        raise ValueError(f"{text} is not a positive number of processes")
    return value


def _nonnegative(text: str) -> float:
    value = _number(text)
    if not value >= 0:
        raise ValueError(f"{text} is not a number of seconds >= 0")
    return value


#: The longest finite ``--timeout`` (about 11.6 days): the clocks that enforce it cannot
#: take a deadline past the platform's ``time_t``, and no audit needs longer.
MAX_TIMEOUT = 1e6


def _timeout_seconds(text: str) -> float:
    """``--timeout``: seconds >= 0 up to ``MAX_TIMEOUT``; 0 or ``inf`` for none (0.0)."""
    value = _nonnegative(text)
    if value == float("inf") and text.strip().lower().lstrip("+") in ("inf", "infinity"):
        return 0.0
    if value > MAX_TIMEOUT:
        raise ValueError(f"{text} seconds is longer than opcheck can time (at most "
                         f"{MAX_TIMEOUT:g}, about 11 days); use 0 or inf for no timeout")
    return value


def _growth_factor(text: str) -> float:
    value = _number(text)
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
_timeout = _argument_type(_timeout_seconds)
_seed = _argument_type(parse_seed)
_size = _argument_type(_bytes)
_shard = _argument_type(parse_shard)
_factor = _argument_type(_growth_factor)
_budget = _argument_type(parse_budget)
