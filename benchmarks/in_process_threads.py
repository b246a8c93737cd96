"""What numpy's BLAS thread pool costs an audit run in-process (``opcheck.audit`` from
Python, the pytest plugin and fixture), measured in one run on three sides:

- ``before``: the process's own pool (one thread per core), as in-process audits ran
  before ``opcheck.blas_threads``;
- ``after``: the same process, with ``opcheck.audit`` limiting BLAS to one thread for the
  audit (threadpoolctl must be installed, or it is the same as ``before``);
- ``workers``: ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` = 1
  from the start, as a default ``opcheck audit`` gives its worker processes: the baseline.

Each round starts one fresh interpreter per side (in rotating order) that audits the same
ops in-process: the built-in matmul at ``--size`` x ``--size`` (default mode), or with
``--size 0`` a list of small BLAS-backed built-in ops in full mode. ``--load K`` keeps K
busy processes running meanwhile. Prints each round's seconds and the medians' ratios to
the ``workers`` side.

    python benchmarks/in_process_threads.py [--rounds 5] [--size 128] [--load 0]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SMALL_OPS = "matmul,affine,affine_relu,sigmoid_affine,conv2d_im2col,logdet_spd,spd_solve"


def child(size: int, repeat: int, limit: bool) -> None:
    """Audit in this process ``repeat`` times; print the seconds it took."""
    import opcheck
    from opcheck import blas_threads

    if not limit:
        blas_threads.limited = contextlib.nullcontext  # as before the module existed
    registry = opcheck.discover()
    if size:
        ops = [registry["matmul"].model_copy(update={"dims": {"N": size, "D": size, "M": size}})]
        mode = "auto"
    else:
        ops = [registry[name] for name in SMALL_OPS.split(",") if name in registry]
        mode = "full"
    opcheck.audit(ops[0], mode=mode, variant="default")  # warm: imports, first calls
    started = time.perf_counter()
    for _ in range(repeat):
        for op in ops:
            opcheck.audit(op, mode=mode, variant="default")
    print(f"{time.perf_counter() - started:.6f}")


def _busy() -> None:
    while True:
        pass


def _run(side: str, size: int, repeat: int) -> float:
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    for key in BLAS_THREADS:
        env.pop(key, None)
        if side == "workers":
            env[key] = "1"
    command = [sys.executable, __file__, "--child", "--size", str(size), "--repeat", str(repeat)]
    if side == "before":
        command.append("--no-limit")
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=128,
                        help="matmul size; 0: the small BLAS-backed built-in ops")
    parser.add_argument("--repeat", type=int, default=1, help="audits of each op per process")
    parser.add_argument("--load", type=int, default=0, help="busy processes meanwhile")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-limit", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.size, args.repeat, not args.no_limit)
        return
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        print("threadpoolctl is not installed: 'after' is the same as 'before'")
    busy = [multiprocessing.Process(target=_busy, daemon=True) for _ in range(args.load)]
    for process in busy:
        process.start()
    sides = ["before", "after", "workers"]
    times: dict[str, list[float]] = {side: [] for side in sides}
    try:
        for k in range(args.rounds):
            for side in sides[k % 3:] + sides[:k % 3]:
                times[side].append(_run(side, args.size, args.repeat))
            print(f"round {k + 1}: " + ", ".join(f"{s} {times[s][-1]:.3f} s" for s in sides),
                  flush=True)
    finally:
        for process in busy:
            process.kill()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    median = {side: statistics.median(values) for side, values in times.items()}
    what = f"matmul {args.size}x{args.size}" if args.size else "small BLAS ops"
    print(f"{what}, cores {cores}, load {args.load}, medians: " + ", ".join(
        f"{side} {median[side]:.3f} s ({median[side] / median['workers']:.2f}x)" for side in sides))


if __name__ == "__main__":
    main()
