"""The results stream (``--results FILE``): JSON Lines, one line per finished op.

The first line is a header describing the run (seed, mode, variant, selection); every
other line is one op's entry, as in the JSON report's ``"ops"`` list plus ``computed_from``
(the op's fingerprint, opcheck version, seed and mode: ``opcheck.fingerprint``). Each line
goes to the file with a single ``write`` on an append-only descriptor as soon as its op
finishes, so a run that is interrupted or killed keeps every op that finished; at worst
the last line is cut short, and the reader drops it. ``--resume`` and ``opcheck merge``
read the file back with ``read_results``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError
from .fingerprint import KEY
from .result import OpReport
from .serialize import report_from_dict, report_to_dict

HEADER_KEY = "opcheck_results"
RESULTS_VERSION = 1
#: Options that change an op's figures: results are reused or merged only where they agree.
RUN_KEYS = ("seed", "mode", "variant", "order")
#: What a header written before a key was recorded meant by leaving it out.
RUN_DEFAULTS = {"order": 2}


def run_value(header: dict[str, Any] | None, key: str) -> Any:
    """``header[key]``, or the value a header without that key was written with."""
    return (header or {}).get(key, RUN_DEFAULTS.get(key))


@dataclass
class Results:
    """What a results file holds: its header, each op's last entry, and where the last
    complete line ends (the size to truncate to before appending)."""

    header: dict[str, Any] | None = None
    reports: dict[str, OpReport] = field(default_factory=dict)
    good_size: int = 0
    #: op name → what its entry was computed from (``fingerprint.KEY``), where recorded
    computed_from: dict[str, dict[str, Any]] = field(default_factory=dict)


def read_results(path: str) -> Results:
    """Parse a results file; a cut-short last line (the run was killed mid-write) is dropped."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read results file {path!r}: {exc.strerror or exc}") from exc
    results = Results()
    offset = 0
    for number, raw in enumerate(data.splitlines(keepends=True), 1):
        complete = raw.endswith(b"\n")
        try:
            entry = json.loads(raw)
        except ValueError:
            if not complete:  # the tail of a killed run
                break
            raise UsageError(
                f"{path}:{number} is not a JSON line; is {path!r} an opcheck results file "
                "(written by --results)?"
            ) from None
        if not complete:  # parsable but unterminated: the newline never made it; redo it
            break
        if number == 1:
            if not isinstance(entry, dict) or HEADER_KEY not in entry:
                raise UsageError(
                    f"{path!r} does not start with an opcheck results header; it is not a file "
                    "written by `opcheck audit --results`"
                )
            results.header = entry
        elif isinstance(entry, dict) and "name" in entry and "status" in entry:
            _check_entry(results.header, entry, path, number)
            results.reports[entry["name"]] = report_from_dict(entry)
            if isinstance(entry.get(KEY), dict):
                results.computed_from[entry["name"]] = entry[KEY]
        else:
            raise UsageError(f"{path}:{number} is not an op entry (it needs 'name' and 'status')")
        offset += len(raw)
    results.good_size = offset
    return results


def _check_entry(header: dict[str, Any] | None, entry: dict[str, Any], path: str,
                 number: int) -> None:
    """An entry whose seed or mode contradicts the header: the file was edited or pieced
    together from several runs, and its results cannot all be what the header says."""
    for key in ("seed", "mode"):
        if header is not None and key in entry and entry[key] != header.get(key):
            raise UsageError(
                f"{path}:{number}: op {entry['name']!r} was audited with {key}="
                f"{entry[key]!r}, but the header says {key}={header.get(key)!r}; the file "
                "mixes runs: start afresh with --results"
            )


def stale(results: Results, name: str, now: dict[str, Any]) -> bool:
    """Whether ``name``'s stored entry was computed from something other than ``now``
    (another declaration or code, opcheck version, seed or mode), or does not say."""
    return results.computed_from.get(name) != now


def check_compatible(header: dict[str, Any] | None, run: dict[str, Any], path: str) -> None:
    """Refuse to mix results of runs whose seed, mode, variant or order differ."""
    if header is None:
        return
    for key in RUN_KEYS:
        if run_value(header, key) != run_value(run, key):
            raise UsageError(
                f"{path!r} holds results for {key}={run_value(header, key)!r}, but this run has "
                f"{key}={run_value(run, key)!r}; resume with the same options, or start afresh "
                "with --results"
            )


class ResultsWriter:
    """Appends one line per op to a results file; ``resume`` continues an existing one."""

    def __init__(self, path: str, header: dict[str, Any], resume: Results | None = None,
                 computed_from: Callable[[str], dict[str, Any]] | None = None) -> None:
        self.path = path
        self._computed_from = computed_from
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        if resume is not None and resume.header is not None:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            os.truncate(path, resume.good_size)  # drop a cut-short last line before appending
        else:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o644)
            self._write({HEADER_KEY: RESULTS_VERSION, **header})

    def write(self, report: OpReport) -> None:
        entry = report_to_dict(report)
        if self._computed_from is not None:
            entry[KEY] = self._computed_from(report.name)
        self._write(entry)

    def _write(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, allow_nan=False, separators=(",", ":")) + "\n").encode()
        while line:  # one write in practice; loop in case the kernel takes part of it
            written = os.write(self._fd, line)
            line = line[written:]

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> ResultsWriter:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
