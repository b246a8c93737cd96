"""``opcheck diff``: what changed between two runs of a library's audit.

Pure: two lists of ``OpReport`` (and their run metadata) in, a ``Comparison`` out; the
renderers live in ``opcheck.formats.diff``. An op is matched by name. A regression is an op
that worked (``pass``, or ``xpass``) and now fails or errors; a fix is the reverse (from
``fail``, ``error`` or ``xfail`` to ``pass``); every other status change is listed as
changed. An op that did not pass in either run but fails at other variants now (a new
bug in an op already known to fail at N=1) is listed apart: its status alone hides it.
``max_rel_error`` growth beyond ``factor`` is listed, whatever the statuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .result import OpReport
from .results_file import RUN_KEYS, run_value  # options that change figures on their own

DEFAULT_GROWTH = 10.0
#: Errors below this count as this much when measuring growth: going from an exact 0 to
#: 1e-17 is rounding, not growth.
ERROR_FLOOR = 1e-12
WORKED = ("pass", "xpass")
BROKEN = ("fail", "error")


@dataclass(frozen=True)
class Change:
    """One op in both runs (or one of them): its status and max_rel_error in each."""

    name: str
    old: str | None
    new: str | None
    old_error: float | None = None
    new_error: float | None = None
    message: str = ""  # the newer run's reason, for an op that does not pass
    detail: str = ""  # for an op of one status in both runs: how its failing variants moved

    @property
    def growth(self) -> float | None:
        if self.old_error is None or self.new_error is None:
            return None
        return self.new_error / max(self.old_error, ERROR_FLOOR)


@dataclass
class Comparison:
    """The ops of two runs, sorted into what a reviewer needs to see."""

    old_path: str
    new_path: str
    factor: float
    regressions: list[Change] = field(default_factory=list)
    fixes: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    added: list[Change] = field(default_factory=list)
    removed: list[Change] = field(default_factory=list)
    variants: list[Change] = field(default_factory=list)
    growth: list[Change] = field(default_factory=list)
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for change, entry in zip(self.growth, data["growth"]):
            entry["growth"] = change.growth
        data["summary"] = self.counts()
        return data

    def counts(self) -> dict[str, int]:
        return {key: len(getattr(self, key)) for key in
                ("regressions", "fixes", "changed", "added", "removed", "variants",
                 "growth")} | {
                "unchanged": self.unchanged}


def compare(old: Sequence[OpReport], new: Sequence[OpReport], *, factor: float = DEFAULT_GROWTH,
            old_meta: dict[str, Any] | None = None, new_meta: dict[str, Any] | None = None,
            old_path: str = "OLD", new_path: str = "NEW") -> Comparison:
    """Sort every op of ``old`` and ``new`` (matched by name) into a ``Comparison``."""
    result = Comparison(old_path, new_path, factor)
    before = {r.name: r for r in old}
    after = {r.name: r for r in new}
    for name in sorted(before.keys() | after.keys()):
        a, b = before.get(name), after.get(name)
        change = Change(name, a.status if a else None, b.status if b else None,
                        a.max_rel_error if a else None, b.max_rel_error if b else None,
                        (b or a).message if (b or a).status != "pass" else "")  # type: ignore[union-attr]
        if a is None:
            result.added.append(change)
        elif b is None:
            result.removed.append(change)
        elif a.status in WORKED and b.status in BROKEN:
            result.regressions.append(change)
        elif a.status in (*BROKEN, "xfail") and b.status == "pass":
            result.fixes.append(change)
        elif a.status != b.status:
            result.changed.append(change)
        elif moved := failing_variants_moved(a, b):
            result.variants.append(replace(change, detail=moved))
        else:
            result.unchanged += 1
        grew = change.growth
        if grew is not None and grew > factor:
            result.growth.append(change)
    result.growth.sort(key=lambda c: -(c.growth or 0.0))
    for key in RUN_KEYS:
        x, y = run_value(old_meta, key), run_value(new_meta, key)
        if x != y:
            result.notes.append(f"the runs differ in {key} ({x!r} vs {y!r}): figures may "
                                "change for that alone")
    for meta, path in ((old_meta, old_path), (new_meta, new_path)):
        if meta and meta.get("complete") is False:
            result.notes.append(f"{path} is incomplete: ops it did not audit show as added or "
                                "removed")
    shards = shard_note(old_meta, new_meta, old_path, new_path)
    if shards:
        result.notes.insert(0, shards)
    return result


def failing_variants_moved(old: OpReport, new: OpReport) -> str:
    """"now also fails at N=4; no longer at N=1" for an op whose failing variants differ
    between the runs ("" if they do not, or if either run never reached a variant)."""
    if not old.variants or not new.variants:
        return ""
    before = [v.label for v in old.variants if v.status != "pass"]
    after = [v.label for v in new.variants if v.status != "pass"]
    worse = [label for label in after if label not in before]
    better = [label for label in before if label not in after]
    parts = ([f"now also fails at {', '.join(worse)}"] if worse else []) + (
        [f"no longer at {', '.join(better)}" if worse else f"no longer fails at {', '.join(better)}"]
        if better else [])
    return "; ".join(parts)


def shard_note(old_meta: dict[str, Any] | None, new_meta: dict[str, Any] | None,
               old_path: str, new_path: str) -> str | None:
    """What is wrong when a shard's results stand where a whole run is expected (or two
    different shards are compared): their ops differ for that alone."""
    old, new = (old_meta or {}).get("shard"), (new_meta or {}).get("shard")
    if old == new:
        return None
    if old and new:
        return (f"{old_path} is shard {old} of its run and {new_path} shard {new}: they hold "
                "different ops, which show as added and removed; compare the same shard of "
                "each run, or the merged reports (opcheck merge)")
    path, shard, other, gone = ((old_path, old, new_path, "added") if old else
                                (new_path, new, old_path, "removed"))
    return (f"{path} holds only shard {shard} of a run, {other} a whole run: the other "
            f"shards' ops show as {gone}; merge the shards first (opcheck merge FILE... "
            "--format json -o merged.json) and compare the merged report")
