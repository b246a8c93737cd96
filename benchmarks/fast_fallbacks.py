"""Does fast mode stay fast on correct ops? Audits every built-in op (``opcheck list``) in
``mode="fast"`` at seeds 0..19 and counts the checked inputs whose result shows a fallback
from the projections to element-by-element checks (issue 11: "no correct op among the
built-in library, at seeds 0-19, falls back to an element-wise check"):

- ``full``: every element checked one by one — a projection disagreed, or too many
  elements sit within a step of a bound (the reason is in the result's notes);
- ``near-bound``: the projections covered the input, and the few elements near a bound
  were checked one by one (``coverage`` "N projections + k elements near a bound").

Results of the adjoint identity (``check="adjoint"``, and JVPs it verified) are not finite
differences and are left out.

    python benchmarks/fast_fallbacks.py [--seeds 20] [--ops 'glob']
"""

from __future__ import annotations

import argparse
import collections
import fnmatch
import time

import opcheck

RULES = ("backward", "jvp", "double_backward")


def classify(item: opcheck.result.InputResult) -> str | None:  # type: ignore[name-defined]
    """None for a projections-only result, else the kind of fallback."""
    if item.check not in RULES or item.method.startswith("adjoint"):
        return None
    if item.method.startswith(("projections", "joint projections")):
        return None
    if "near a bound" in item.coverage and not item.coverage.startswith("all "):
        return "near-bound"
    return "full"


def reason(item: opcheck.result.InputResult) -> str:  # type: ignore[name-defined]
    for note in item.notes:
        if "bound" in note or "projection" in note:
            return note.removeprefix("fast mode: ").split(", which")[0]
    if "near a bound" in item.coverage:
        return item.coverage
    return "a projection disagreed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--ops", default="*")
    args = parser.parse_args()
    ops = {n: op for n, op in opcheck.discover().items() if fnmatch.fnmatch(n, args.ops)}
    totals: collections.Counter[str] = collections.Counter()
    fallbacks: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(
        collections.Counter)
    statuses: collections.Counter[str] = collections.Counter()
    seconds: dict[str, float] = collections.defaultdict(float)
    for name, op in sorted(ops.items()):
        for seed in range(args.seeds):
            started = time.perf_counter()
            report = opcheck.audit(op, seed=seed, mode="fast")
            seconds[name] += time.perf_counter() - started
            statuses[report.status] += 1
            for variant in report.variants:
                for item in variant.inputs:
                    kind = classify(item)
                    if item.check not in RULES or item.method.startswith("adjoint"):
                        continue
                    totals["checked"] += 1
                    if kind is not None:
                        totals[kind] += 1
                        key = (name, f"{variant.label} {item.check} {item.name}: {reason(item)}")
                        fallbacks[key][kind] += 1
    runs = len(ops) * args.seeds
    print(f"{len(ops)} built-in ops x {args.seeds} seeds = {runs} fast-mode audits; "
          f"statuses {dict(statuses)}")
    print(f"inputs checked (all variants and rules): {totals['checked']}; "
          f"fell back to every element: {totals['full']}; "
          f"near-bound elements checked one by one: {totals['near-bound']}")
    for (name, what), kinds in sorted(fallbacks.items()):
        print(f"  {name}: {what} -> {dict(kinds)}")
    slowest = sorted(seconds.items(), key=lambda kv: -kv[1])[:5]
    print("slowest ops (s over all seeds): " + ", ".join(f"{n} {s:.1f}" for n, s in slowest))


if __name__ == "__main__":
    main()
