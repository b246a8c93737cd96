"""Fast mode and tiny ops against their targets, measured in one run (issue 11, items 2, 4).

    python benchmarks/fast_mode.py [--rounds 5] [--against DIR]

Prints, as medians over rounds of CPU time (``time.process_time``: the machine is shared,
and CPU time moves less than wall time under load), with the min..max spread of the ratio:
- fast mode on a 128x128 matmul (``real_sizes.py``'s op), the declared shape alone and
  all variants, over torch's ``gradcheck(fast_mode=True)`` (targets: <= 1x, <= 1.5x);
- the default audit of the seed's 3x4·4x5 matmul (backward only, all variants) over the
  seed notebook's single-shape loop (``gradcheck_speed.py``'s; target <= 5x);
- the built-in library's default audit, one op after another in this process: the sum of
  the reports' ``duration`` (target <= 0.5 s), and the loop's CPU time (durations are wall
  time, which a loaded machine inflates); the median of three such loops per round; and
  how much of it is spent inside the ops' own calls (the floor under that figure).
``--against DIR`` runs the same measurements on another checkout (``PYTHONPATH=DIR``, e.g.
``git archive`` of the commit before a change) in a subprocess after each round of this
one, and prints both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np


def _cpu(fn, repeat: int) -> float:
    """Median CPU seconds of ``repeat`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        started = time.process_time()
        fn()
        times.append(time.process_time() - started)
    return statistics.median(times)


def measure(repeat: int) -> dict[str, float]:
    """One round: seconds per measurement."""
    from gradcheck_speed import make_op, seed_loop
    from real_sizes import layers, torch_seconds

    import opcheck

    big = layers()["matmul 128x128"][0]
    out = {
        "fast 128 default": _cpu(lambda: opcheck.audit(big, mode="fast", variant="default"), repeat),
        "fast 128 all": _cpu(lambda: opcheck.audit(big, mode="fast"), repeat),
    }
    try:
        out["torch fast 128"] = _cpu(lambda: torch_seconds(big, True), repeat)
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    x, w, dout = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal((3, 5))
    tiny = make_op(3, 4, 5)
    out["seed loop 3x4"] = _cpu(seed_loop(x, w, dout), 5 * repeat)
    out["audit 3x4 all"] = _cpu(lambda: opcheck.audit(tiny), repeat)
    ops = opcheck.discover()
    for op in ops.values():  # warm-up: imports, batching verification
        opcheck.audit(op)
    loops = []
    for _ in range(LIBRARY_LOOPS):  # one loop is a single sample of a ~0.6 s figure: the median of a few
        started = time.process_time()
        durations = sum(opcheck.audit(op).duration for op in ops.values())
        loops.append((durations, time.process_time() - started))
    out["library durations"], out["library cpu"] = sorted(loops)[len(loops) // 2]
    out["library inside ops"] = _inside_ops(ops)
    return out


def _inside_ops(ops: dict) -> float:
    """CPU seconds the library's default audit spends inside the ops' own forward,
    backward, jvp and double_backward calls (one more loop, with those functions timed):
    the floor under the library's figure, which no change to opcheck can lower."""
    import opcheck

    spent = [0.0]

    def timed(fn):
        def call(*args, **kwargs):
            started = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[0] += time.process_time() - started
        return call

    roles = ("forward", "backward", "jvp", "double_backward")
    copies = [op.model_copy(update={r: timed(getattr(op, r)) for r in roles if getattr(op, r, None)})
              for op in ops.values()]
    for op in copies:  # warm-up, as the timed loops had
        opcheck.audit(op)
    spent[0] = 0.0
    for op in copies:
        opcheck.audit(op)
    return spent[0]


#: Library loops per round (the median one is kept).
LIBRARY_LOOPS = 3


RATIOS = [
    ("fast 128x128, one variant / torch fast", "fast 128 default", "torch fast 128", 1.0),
    ("fast 128x128, all variants / torch fast", "fast 128 all", "torch fast 128", 1.5),
    ("default audit 3x4·4x5, all variants / seed loop", "audit 3x4 all", "seed loop 3x4", 5.0),
]


def _report(label: str, rounds: list[dict[str, float]]) -> None:
    print(f"== {label} ({len(rounds)} rounds)")
    for text, num, den, target in RATIOS:
        if den not in rounds[0]:
            continue
        ratios = [r[num] / r[den] for r in rounds]
        print(f"   {text:<50} {statistics.median(ratios):6.2f}x ({min(ratios):.2f}..{max(ratios):.2f})"
              f"   target <= {target:g}x   [{statistics.median(r[num] for r in rounds) * 1e3:.2f} ms"
              f" vs {statistics.median(r[den] for r in rounds) * 1e3:.2f} ms]")
    lib = [r["library durations"] for r in rounds]
    print(f"   {'built-in library, summed durations':<50} {statistics.median(lib):6.3f} s "
          f"({min(lib):.3f}..{max(lib):.3f})   target <= 0.5 s")
    cpu = [r["library cpu"] for r in rounds]  # (durations are wall time: under load, this moves less)
    print(f"   {'built-in library, CPU time of the same loop':<50} {statistics.median(cpu):6.3f} s "
          f"({min(cpu):.3f}..{max(cpu):.3f})")
    if "library inside ops" in rounds[0]:  # (a checkout from before this measurement has none)
        inside = [r["library inside ops"] for r in rounds]
        print(f"   {'  of which inside the ops own calls (the floor)':<50} {statistics.median(inside):6.3f} s "
              f"({min(inside):.3f}..{max(inside):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=7, help="calls per measurement per round")
    parser.add_argument("--against", help="another checkout's root, measured in a subprocess")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.repeat)))
        return
    mine: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    for _ in range(args.rounds):
        mine.append(measure(args.repeat))
        if args.against:
            env = {**os.environ, "PYTHONPATH": os.path.abspath(args.against)}
            done = subprocess.run([sys.executable, __file__, "--json", "--repeat", str(args.repeat)],
                                  env=env, capture_output=True, text=True, check=True)
            theirs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    _report("this checkout", mine)
    if theirs:
        _report(f"--against {args.against}", theirs)


if __name__ == "__main__":
    main()
