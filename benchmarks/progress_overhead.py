"""What counting the audit's progress costs the hot loops: ``finite_diff.loop_central``
(one store into ``audit_progress.slots`` per element) and ``loop_one_sided`` against the
same loops without the store (copied here as they were before), on a tiny op whose
forward costs about a microsecond — the worst case: a slower forward hides it further.
Prints nanoseconds per forward call and the ratio, medians of interleaved runs.

    python benchmarks/progress_overhead.py [--elements 4096] [--runs 21]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from opcheck import finite_diff as fd


def loop_central_before(call: fd.Call, flat: np.ndarray, plan: fd.StepPlan, project: fd.Project,
                        copy: bool, out: np.ndarray) -> None:
    """``finite_diff.loop_central`` before progress was counted."""
    up, down = plan.values
    width = (plan.nodes[0] - plan.nodes[1]).tolist()
    orig = plan.original
    for i in np.flatnonzero(plan.kind == fd.CENTRAL).tolist():
        flat[i] = up[i]
        fp = call()
        if copy:
            fp = fd._copy(fp)
        flat[i] = down[i]
        fm = call()
        flat[i] = orig[i]
        out[i] = project(fp, fm) / width[i] if width[i] else fd.NAN


def loop_one_sided_before(call: fd.Call, flat: np.ndarray, plan: fd.StepPlan,
                          project: fd.Project, copy: bool, f0: Any, out: np.ndarray) -> None:
    """``finite_diff.loop_one_sided`` before progress was counted."""
    for i in np.flatnonzero(plan.kind != fd.CENTRAL).tolist():
        s1, s2 = float(plan.nodes[0][i]), float(plan.nodes[1][i])
        flat[i] = plan.values[0][i]
        f1 = call()
        if copy:
            f1 = fd._copy(f1)
        flat[i] = plan.values[1][i]
        f2 = call()
        flat[i] = plan.original[i]
        out[i] = fd._one_sided(project, f0, f1, f2, s1, s2)


def _timed(run: Callable[[], None], calls: int) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) / calls * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=4096)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    n = args.elements
    x = np.random.default_rng(0).uniform(-1.0, 1.0, n)
    dout = np.random.default_rng(1).standard_normal(n)
    call = functools.partial(np.multiply, x, 2.0)  # the tiny op: 2x
    project = fd.make_projector([dout])
    out = np.empty(n)
    central = fd.plan_steps(x, float(np.finfo(float).eps), -1.0, 1.0)
    # every element one-sided: bounds just outside the values
    sided = fd.plan_steps(x, float(np.finfo(float).eps), float(x.min()), float(x.max()))
    sided.kind[:] = fd.FORWARD
    f0 = call()
    cases = {
        "loop_central": (
            lambda: loop_central_before(call, x, central, project, False, out),
            lambda: fd.loop_central(call, x, central, project, False, out)),
        "loop_one_sided": (
            lambda: loop_one_sided_before(call, x, sided, project, True, f0, out),
            lambda: fd.loop_one_sided(call, x, sided, project, True, f0, out)),
    }
    print(f"tiny op 2x on {n} elements, {args.runs} interleaved runs, median ns per forward call")
    for name, (before, after) in cases.items():
        times: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(args.runs):
            times["before"].append(_timed(before, 2 * n))
            times["after"].append(_timed(after, 2 * n))
        b, a = statistics.median(times["before"]), statistics.median(times["after"])
        ratios = [y / z for y, z in zip(times["after"], times["before"])]
        q = statistics.quantiles(ratios, n=4)
        print(f"{name:15s} before {b:7.1f} ns  after {a:7.1f} ns  ratio {a / b:.3f} "
              f"(per-run ratios, quartiles {q[0]:.3f}-{q[2]:.3f})")


if __name__ == "__main__":
    main()
