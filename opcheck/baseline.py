"""``--baseline FILE``: a library's known failures, kept beside the code instead of in it.

The file is JSON, sorted and indented so that a person edits it and a diff reviews it::

    {
      "opcheck_baseline": 1,
      "known_failures": {
        "mylib.tanh": "wrong at N=1, issue #12",
        "mylib.fft": "new in 2026-12-01"
      }
    }

A bare mapping ``{"op": "reason", ...}`` is read too. A listed op that fails or errors is
an ``xfail``; one that passes is an ``xpass`` (strict: the entry has to go).
``--update-baseline`` rewrites the file from the run: new failures are added (reason
"new in <date>" unless ``--baseline-reason`` gives one), fixed ones removed, reasons kept.
JSON rather than TOML: Python reads and writes it everywhere without a dependency.
"""

from __future__ import annotations

import datetime
import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .errors import UsageError
from .result import OpReport

KEY = "opcheck_baseline"
#: How a baseline's xfail message starts (a resumed run's stream holds judged reports).
PREFIX = "known failure (baseline "
VERSION = 1
ENTRIES = "known_failures"


@dataclass
class Baseline:
    """The known failures of one file, and what this run's ops were before it applied."""

    path: str
    entries: dict[str, str] = field(default_factory=dict)  # op name → reason
    #: status and message of each op the baseline touched, before it did
    raw: dict[str, tuple[str, str]] = field(default_factory=dict)

    def apply(self, report: OpReport) -> OpReport:
        """A listed op's failure becomes an xfail, its pass an xpass."""
        if report.name not in self.raw:
            self.raw[report.name] = (report.status, report.message)
        reason = self.entries.get(report.name)
        if reason is None:
            return report
        if report.status in ("fail", "error"):
            report.status = "xfail"
            report.message = f"{PREFIX}{self.path}: {reason}): {report.message}"
        elif report.status == "pass":
            report.status = "xpass"
            report.message = (f"[XPASS(strict)] listed in the baseline {self.path} as a known "
                              f"failure ({reason}) but passes: remove {report.name!r} from it "
                              "(or rerun with --update-baseline)")
        return report

    def stale(self, existing: Iterable[str]) -> list[str]:
        """Entries for ops that no longer exist (renamed or removed)."""
        known = set(existing)
        return sorted(name for name in self.entries if name not in known)

    def updated(self, reports: Iterable[OpReport], existing: Iterable[str],
                reason: str | None = None, today: datetime.date | None = None) -> dict[str, str]:
        """The entries after this run: its failures (old reasons kept), plus the entries of
        ops it did not audit that still exist (another shard's, a narrower selection's)."""
        audited: dict[str, str] = {}
        for report in reports:
            status, message = self.raw.get(report.name, (report.status, report.message))
            if status == "xfail" and message.startswith(PREFIX):
                status = "fail"  # judged by the baseline in the run this one resumed
            if status == "skip":
                continue  # not audited: its entry, if any, stays
            if status == "error" and _declaration_error(message):
                status = "declaration"  # a typo to fix, not a known failure to carry
            audited[report.name] = status
        new_reason = reason or f"new in {(today or datetime.date.today()).isoformat()}"
        known = set(existing)
        entries = {name: why for name, why in self.entries.items()
                   if name in known and name not in audited}
        for name, status in audited.items():
            if status in ("fail", "error"):
                entries[name] = self.entries.get(name, new_reason)
        return dict(sorted(entries.items()))

    def rejudge(self, reports: Iterable[OpReport], entries: Mapping[str, str]) -> None:
        """Apply ``entries`` in place of the entries the run was judged with."""
        self.entries = dict(entries)
        for report in reports:
            if report.name in self.raw:
                report.status, report.message = self.raw[report.name]
            self.apply(report)


def load(path: str, *, missing_ok: bool = False) -> Baseline:
    """Read a baseline file; ``missing_ok`` (for ``--update-baseline``) starts an empty one."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        if missing_ok:
            return Baseline(path)
        raise UsageError(f"--baseline {path}: no such file; create it with --update-baseline") from None
    except OSError as exc:
        raise UsageError(f"--baseline {path}: cannot read it: {exc.strerror or exc}") from None
    from .file_kinds import wrong_kind

    wrong = wrong_kind(text, "baseline")
    if wrong:
        raise UsageError(f"--baseline {path} {wrong}; a baseline holds "
                         f'{{"{KEY}": {VERSION}, "{ENTRIES}": {{"op name": "reason", ...}}}} '
                         "(--update-baseline writes one)")
    try:
        doc = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise UsageError(f"--baseline {path} is not valid JSON ({exc}); it holds "
                         f'{{"{KEY}": {VERSION}, "{ENTRIES}": {{"op name": "reason", ...}}}}') from None
    if isinstance(doc, dict) and KEY in doc:
        if doc[KEY] != VERSION:
            raise UsageError(f"--baseline {path}: {KEY!r} is {doc[KEY]!r}; this opcheck reads "
                             f"version {VERSION} (is the file from a newer opcheck?)")
        unknown = sorted(set(doc) - {KEY, ENTRIES})
        if unknown:
            close = difflib.get_close_matches(unknown[0], [ENTRIES], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"--baseline {path}: unknown key(s) {unknown}; the file holds "
                             f"{KEY!r} and {ENTRIES!r}{hint}")
    entries = doc.get(ENTRIES, {}) if isinstance(doc, dict) and KEY in doc else doc
    if not isinstance(entries, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in entries.items()):
        raise UsageError(f"--baseline {path}: {ENTRIES!r} must map op names to reasons "
                         '(strings), e.g. {"mylib.tanh": "wrong at N=1, issue #12"}')
    return Baseline(path, dict(entries))


def _declaration_error(message: str) -> bool:
    """An error in how the op is declared (a broken plugin, an invalid declaration, an
    xfail/skip selector that matches nothing), which no baseline should hide."""
    return (message.startswith("plugin ") or "invalid declaration" in message
            or ("selector" in message and "matches nothing" in message))


def dumps(entries: Mapping[str, str]) -> str:
    doc = {KEY: VERSION, ENTRIES: dict(sorted(entries.items()))}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def describe_update(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    parts = [f"{len(new)} known failures"]
    if added:
        parts.append(f"added {', '.join(added)}")
    if removed:
        parts.append(f"removed {', '.join(removed)}")
    return "; ".join(parts)
