"""What measuring the forward's conditioning (opcheck/conditioning.py) costs, as ratios
measured in one run against the same audit with the measurement switched off:

- a tiny op (the seed's 3x4 . 4x5 matmul, every variant, default mode): the measurement
  is lazy, made only when some element or projection would fail without it, so a passing
  op should not pay for it at all; "eager" measures it for every variant regardless, to
  show what laziness saves;
- the gallery's float32 variance near 2048, which needs it: the audit with the
  measurement against the four forward calls it adds;
- the built-in library's default audit, and how many of its variants measure it at all.

    python benchmarks/conditioning_cost.py [--repeats 35]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import opcheck
from opcheck import checker, conditioning

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from bug_gallery import CORRECT

LAZY = checker.GradientChecker.condition


def _off(self: checker.GradientChecker) -> float:
    return 1.0


def _setup(kind: str) -> None:
    """Switch the measurement off, leave it lazy, or make every checker measure at once."""
    checker.GradientChecker.condition = LAZY if kind != "off" else property(_off)  # type: ignore[assignment]
    init = checker.GradientChecker.__dict__.get("_original_init") or checker.GradientChecker.__init__
    checker.GradientChecker._original_init = init  # type: ignore[attr-defined]

    def eager(self: checker.GradientChecker, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)
        _ = self.condition

    checker.GradientChecker.__init__ = eager if kind == "eager" else init  # type: ignore[method-assign]


def _median_seconds(run: Callable[[], object], kinds: tuple[str, ...], repeats: int) -> dict[str, float]:
    """Median wall time per kind, the kinds interleaved so that load hits them alike."""
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for repeat in range(repeats):
        for kind in kinds[repeat % len(kinds):] + kinds[:repeat % len(kinds)]:  # rotate: no order bias
            _setup(kind)
            started = time.perf_counter()
            run()
            times[kind].append(time.perf_counter() - started)
    _setup("lazy")
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=35)
    args = parser.parse_args()
    os.environ.setdefault("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    ops = opcheck.discover()
    matmul = ops["matmul"]
    tiny = _median_seconds(lambda: opcheck.audit(matmul), ("off", "lazy", "eager"), args.repeats)
    print(f"tiny op (matmul 3x4 . 4x5, all variants): off {tiny['off'] * 1e3:.1f} ms, "
          f"lazy {tiny['lazy'] / tiny['off']:.3f}x, eager {tiny['eager'] / tiny['off']:.3f}x")

    variance = next(c.op for c in CORRECT if c.op.name == "ok.variance_near_2048.float32")
    needed = _median_seconds(lambda: opcheck.audit(variance), ("off", "lazy"), args.repeats)
    print(f"float32 variance near 2048 (needs it): off {needed['off'] * 1e3:.1f} ms (fails), "
          f"with the measurement {needed['lazy'] / needed['off']:.3f}x (passes)")

    library = _median_seconds(lambda: [opcheck.audit(op) for op in ops.values()], ("off", "lazy"),
                              max(3, args.repeats // 5))
    print(f"built-in library, default audit: off {library['off']:.2f} s, "
          f"lazy {library['lazy'] / library['off']:.3f}x")

    measured = 0
    original = conditioning.condition

    def counting(*a: object, **k: object) -> float:
        nonlocal measured
        measured += 1
        return original(*a, **k)  # type: ignore[arg-type]

    checker.conditioning.condition = counting  # type: ignore[assignment]
    started = time.perf_counter()
    reports = [opcheck.audit(op) for op in ops.values()]
    seconds = time.perf_counter() - started
    checker.conditioning.condition = original  # type: ignore[assignment]
    variants = sum(len(r.variants) for r in reports)
    passed = sum(r.status == "pass" for r in reports)
    print(f"built-in library: {len(reports)} ops ({passed} pass), {variants} variants, "
          f"{measured} measured the conditioning; {seconds:.2f} s")


if __name__ == "__main__":
    main()
