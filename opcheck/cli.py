"""The ``opcheck`` command: a thin argparse front end over discover/audit/report.

Results go to stdout (or ``-o FILE``); warnings and the one-line summary go to stderr.
Exit status: 0 all passed, 1 something failed or errored, 2 usage error.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence

from . import __version__
from .audit import MODES, audit
from .errors import InputError, UsageError
from .plugin_manager import Registry, discover
from .report import render_json, render_text, summary_line
from .result import OpReport

FORMATS = ("text", "json")


def build_parser() -> argparse.ArgumentParser:
    plugin_opts = argparse.ArgumentParser(add_help=False)
    plugin_opts.add_argument(
        "-p", dest="plugins", action="append", default=[], metavar="MODULE",
        help="load an extra plugin module (repeatable); -p no:NAME blocks plugin NAME",
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
    run = sub.add_parser("audit", parents=[plugin_opts], help="audit ops (all by default)")
    run.add_argument("names", nargs="*", metavar="NAME", help="op names or globs such as 'mylib.*'")
    run.add_argument("--seed", type=int, default=0, help="seed for inputs and dout (default 0)")
    run.add_argument("--mode", choices=MODES, default="full",
                     help="full: every element; fast: random projections (default full)")
    run.add_argument("--variant", metavar="LABEL",
                     help="audit only this shape variant, e.g. default or N=1")
    run.add_argument("--format", choices=FORMATS, default="text", help="report format (default text)")
    run.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # -p imports from the current directory, as python -m
    try:
        registry = discover(args.plugins)
        if args.command == "list":
            return _list(registry)
        if args.command == "show":
            return _show(registry, args.name, args.json)
        return _audit(registry, args)
    except (UsageError, InputError) as exc:
        print(f"opcheck: error: {exc}", file=sys.stderr)
        return 2


def _warn_plugin_errors(registry: Registry) -> None:
    for err in registry.errors:
        print(f"opcheck: warning: {err}", file=sys.stderr)


def _list(registry: Registry) -> int:
    _warn_plugin_errors(registry)
    width = max((len(n) for n in registry), default=0)
    for name in sorted(registry):
        info = registry.plugin_of[name]
        print(f"{name.ljust(width)}  {info.name} ({info.source})")
    return 1 if registry.errors else 0


def _show(registry: Registry, name: str, as_json: bool) -> int:
    op = _lookup(registry, name)
    if as_json:
        from .describe import input_schema

        print(json.dumps(input_schema(op), indent=2))
        return 0
    from .describe import describe_op

    print(describe_op(op, registry.plugin_of[name]))
    return 0


def _lookup(registry: Registry, name: str):
    if name in registry:
        return registry[name]
    import difflib

    close = difflib.get_close_matches(name, list(registry), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `opcheck list` shows every op"
    raise UsageError(f"no op named {name!r}{hint}")


def select(registry: Registry, patterns: Sequence[str]) -> list[str]:
    """Op names matching any pattern (exact names or globs), in registry order."""
    if not patterns:
        return sorted(registry)
    chosen: list[str] = []
    for pattern in patterns:
        matches = sorted(n for n in registry if fnmatch.fnmatchcase(n, pattern))
        if not matches:
            raise UsageError(
                f"no op matches {pattern!r}; `opcheck list` shows the {len(registry)} discovered ops"
            )
        chosen += [m for m in matches if m not in chosen]
    return chosen


def plugin_error_reports(registry: Registry, patterns: Sequence[str]) -> list[OpReport]:
    """Broken plugins as error entries: all of them for a full audit, else those whose
    op name matches a pattern."""
    reports = []
    for err in registry.errors:
        name = err.op or f"plugin:{err.plugin}"
        if patterns and not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        reports.append(OpReport(name=name, status="error", plugin=err.plugin, message=str(err)))
    return reports


def _audit(registry: Registry, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    names = select(registry, args.names) if args.names or registry else []
    reports = plugin_error_reports(registry, args.names)
    if not names and not reports:
        raise UsageError("no ops were discovered; install a plugin or pass -p MODULE")
    for name in names:
        reports.append(audit(registry[name], seed=args.seed, mode=args.mode, variant=args.variant,
                             plugin=registry.plugin_of[name]))
    elapsed = time.perf_counter() - started
    if args.format == "json":
        text = render_json(reports, seed=args.seed, mode=args.mode, duration=elapsed)
    else:
        text = render_text(reports)
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    print(summary_line(reports, elapsed), file=sys.stderr)
    return 0 if all(r.status == "pass" for r in reports) else 1


def write_atomic(path: str, text: str) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".opcheck-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
