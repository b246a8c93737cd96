"""What keeping every op's process state clean costs: restoring it around each op (the op
sandbox) against recycling the worker process after each op. Prints both, per op.

    python benchmarks/hygiene_cost.py [--ops 2000] [--workers 20]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time

from opcheck.hygiene import op_sandbox
from opcheck.runner import RunOptions, _context, _Worker


def sandbox_ms(count: int) -> float:
    """One op_sandbox enter and exit around an empty body (in a worker: children counted)."""
    with op_sandbox(in_worker=True):  # warm: the capture file is made once
        pass
    started = time.perf_counter()
    for _ in range(count):
        with op_sandbox(in_worker=True):
            pass
    return (time.perf_counter() - started) / count * 1e3


def recycle_ms(count: int) -> list[float]:
    """Start a worker and wait until it is ready for its first op (what replacing it after
    every op would cost), then close it."""
    context = _context()
    alive, keep_alive = context.Pipe(duplex=False)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        worker = _Worker(context, RunOptions(jobs=1), alive)
        worker.ready(worker.tasks[0].future.result())
        times.append((time.perf_counter() - started) * 1e3)
        worker.close()
    alive.close()
    keep_alive.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    restore = sandbox_ms(args.ops)
    recycle = recycle_ms(args.workers)
    median = statistics.median(recycle)
    print(f"restore state around one op (op sandbox): {restore:.3f} ms/op")
    print(f"recycle the worker after one op:          {median:.1f} ms/op (median of "
          f"{len(recycle)}; min {min(recycle):.1f}, max {max(recycle):.1f})")
    print(f"recycling costs {median / restore:.0f}x restoring")


if __name__ == "__main__":
    multiprocessing.freeze_support()
    main()
