"""What parallel, isolated audits cost and gain, measured in one run.

Generates a library of small ops (a plugin module in a temporary folder; 240 by
default: elementwise, broadcasting, matmul and reduction ops at the default small dims),
then:

1. audits it with the ``opcheck`` command, ``--jobs 1`` (in-process) and ``--jobs 2``
   (two worker processes), best of ``--repeat`` runs: wall time, ops/s, speedup;
2. the fixed cost of isolation in a CLI run (one op, ``--jobs 2`` against ``--jobs 1``);
3. through ``opcheck.runner`` in this process: in-process, one and two worker processes,
   and the per-op overhead of auditing in a worker (sending the name, returning the
   report, the timeout watch) over auditing in-process, from the difference between the
   whole library and one op, so the fixed cost drops out;
4. with ``--executors``: libraries of 200 and 1,000 generated ops (``--sizes``) audited
   with ``--jobs 2`` and with ``--executor dask`` (a local cluster of 2 processes): wall
   time, time per op, and the share of one core the opcheck process itself used (its own
   CPU time over the wall time; a local Dask cluster's scheduler runs in that process).

    python benchmarks/batch_audit.py [--ops 240] [--repeat 3] [--jobs 1 2]
    python benchmarks/batch_audit.py --executors [--sizes 200 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

LIBRARY = '''\
import numpy as np
import opcheck

COUNT = {count}
X = opcheck.Tensor(shape=("N", "D"))


def _op(k):
    a = 0.5 + (k % 7) / 7.0
    kind = k % 4
    if kind == 0:
        def forward(x):
            return np.tanh(a * x)

        def backward(dout, out, x):
            return {{"x": dout * a * (1.0 - out**2)}}

        inputs = {{"x": X}}
    elif kind == 1:
        def forward(x, y):
            return a * x * y

        def backward(dout, x, y):
            return {{"x": a * dout * y, "y": (a * dout * x).sum(axis=0)}}

        inputs = {{"x": X, "y": opcheck.Tensor(shape=("D",))}}
    elif kind == 2:
        def forward(x, w):
            return a * (x @ w)

        def backward(dout, x, w):
            return {{"x": a * dout @ w.T, "w": a * x.T @ dout}}

        inputs = {{"x": X, "w": opcheck.Tensor(shape=("D", "M"))}}
    else:
        def forward(x):
            return a * (x**2).sum(axis=1)

        def backward(dout, x):
            return {{"x": 2.0 * a * x * dout[:, None]}}

        inputs = {{"x": X}}
    return opcheck.Op(name=f"gen.op{{k:03d}}", forward=forward, backward=backward, inputs=inputs)


@opcheck.hookimpl
def opcheck_ops():
    return [_op(k) for k in range(COUNT)]
'''


def opcheck_command() -> list[str]:
    """The console script beside this interpreter, else ``python -m opcheck``."""
    beside = os.path.join(os.path.dirname(sys.executable), "opcheck")
    return [beside] if os.path.exists(beside) else [sys.executable, "-m", "opcheck"]


def cli_wall_time(folder: str, jobs: int, repeat: int, names: str = "gen.*") -> float:
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        result = subprocess.run(
            [*opcheck_command(), "audit", "-p", "genlib_ops", names, "--jobs", str(jobs),
             "--format", "json", "-o", os.path.join(folder, f"report-{jobs}.json")],
            cwd=folder, env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(f"opcheck audit --jobs {jobs} failed:\n{result.stderr}")
        best = min(best, elapsed)
    return best


def runner_times(repeat: int) -> dict[str, float]:
    """Seconds for the whole library and for one op, in-process and in worker processes
    (the fork server already up, as after a CLI run's first worker)."""
    from opcheck.plugin_manager import discover
    from opcheck.runner import RunOptions, run_ops

    names = [n for n in sorted(discover(["genlib_ops"])) if n.startswith("gen.")]

    def timed(options: RunOptions, subset: list[str]) -> float:
        best = float("inf")
        for _ in range(repeat):
            registry = discover(["genlib_ops"])  # fresh ops: no per-op cache from a past run
            started = time.perf_counter()
            reports = list(run_ops(subset, options, registry))
            best = min(best, time.perf_counter() - started)
            assert all(r.status == "pass" for r in reports), [r.message for r in reports][:3]
        return best

    plugins = ("genlib_ops",)
    local = RunOptions(plugins=plugins, jobs=1, isolate=False)
    one = RunOptions(plugins=plugins, jobs=1, isolate=True)
    two = RunOptions(plugins=plugins, jobs=2, isolate=True)
    timed(one, names[:1])  # start the fork server
    return {
        "local": timed(local, names), "local_1": timed(local, names[:1]),
        "one": timed(one, names), "one_1": timed(one, names[:1]), "two": timed(two, names),
    }


#: Runs the CLI in this child process and reports its own CPU time (not its workers').
_TIMED_CLI = """
import json, os, sys, time
from opcheck.cli import main
started = time.perf_counter()
code = main(sys.argv[2:])
wall = time.perf_counter() - started
cpu = os.times()
with open(sys.argv[1], "w") as handle:
    json.dump({"code": code, "wall": wall, "cpu": cpu.user + cpu.system}, handle)
"""


def executor_times(folder: str, size: int, repeat: int) -> dict[str, tuple[float, float]]:
    """(best wall seconds, the parent's CPU share in that run) per executor, ``size`` ops."""
    module = f"genlib{size}_ops"
    with open(os.path.join(folder, f"{module}.py"), "w") as handle:
        handle.write(LIBRARY.format(count=size))
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    out = os.path.join(folder, "timing.json")
    found: dict[str, tuple[float, float]] = {}
    for label, extra in (("--jobs 2", []), ("--executor dask", ["--executor", "dask"])):
        best = (float("inf"), 0.0)
        for _ in range(repeat):
            subprocess.run(
                [sys.executable, "-c", _TIMED_CLI, out, "audit", "-p", module, "gen.*",
                 "--jobs", "2", *extra, "--format", "json", "-o",
                 os.path.join(folder, "report.json")],
                cwd=folder, env=env, capture_output=True, text=True, check=False)
            with open(out) as handle:
                got = json.load(handle)
            if got["code"] != 0:
                sys.exit(f"opcheck audit {label} on {size} ops failed with {got['code']}")
            if got["wall"] < best[0]:
                best = (got["wall"], got["cpu"] / got["wall"])
        found[label] = best
    return found


def compare_executors(folder: str, sizes: list[int], repeat: int) -> None:
    print("| ops | command | wall time | ms/op | parent CPU share | vs --jobs 2 |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    found = {}
    for size in sizes:
        times = found[size] = executor_times(folder, size, repeat)
        base = times["--jobs 2"][0]
        for label, (wall, share) in times.items():
            print(f"| {size} | `opcheck audit {label}` | {wall:.2f} s | {1e3 * wall / size:.2f} "
                  f"| {100 * share:.0f}% | {wall / base:.2f}x |")
    if len(sizes) > 1:  # the fixed costs cancel in the difference between two sizes
        small, big = min(sizes), max(sizes)
        print()
        for label in found[small]:
            extra = (found[big][label][0] - found[small][label][0]) / (big - small)
            fixed = found[small][label][0] - extra * small
            print(f"- `{label}`: {1e3 * extra:.2f} ms per additional op, {fixed:.2f} s fixed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=240, help="ops in the generated library")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="--jobs values to time")
    parser.add_argument("--executors", action="store_true",
                        help="compare --jobs 2 with --executor dask instead (needs opcheck[dask])")
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000],
                        help="library sizes for --executors")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="opcheck-bench-")
    try:
        with open(os.path.join(folder, "genlib_ops.py"), "w") as handle:
            handle.write(LIBRARY.format(count=args.ops))
        sys.path.insert(0, folder)
        os.environ["OPCHECK_DISABLE_PLUGIN_AUTOLOAD"] = "1"

        if args.executors:
            print(f"# {os.cpu_count()} cores, Python {sys.version.split()[0]}, best of "
                  f"{args.repeat}\n")
            compare_executors(folder, args.sizes, args.repeat)
            return
        print(f"# {args.ops} generated ops, {os.cpu_count()} cores, Python "
              f"{sys.version.split()[0]}, best of {args.repeat}\n")
        print("| command | wall time | ops/s | speedup vs --jobs 1 |")
        print("| --- | ---: | ---: | ---: |")
        times = {jobs: cli_wall_time(folder, jobs, args.repeat) for jobs in args.jobs}
        base = times[args.jobs[0]]
        for jobs, seconds in times.items():
            print(f"| `opcheck audit --jobs {jobs}` | {seconds:.2f} s | {args.ops / seconds:.0f} "
                  f"| {base / seconds:.2f}x |")

        n = args.ops
        start_up = cli_wall_time(folder, 2, args.repeat, "gen.op000") - cli_wall_time(
            folder, 1, args.repeat, "gen.op000")
        t = runner_times(args.repeat)
        per_op = ((t["one"] - t["local"]) - (t["one_1"] - t["local_1"])) / (n - 1)
        print("\n| opcheck.runner, this process | wall time | ms/op | speedup vs in-process |")
        print("| --- | ---: | ---: | ---: |")
        for label, key in (("in-process", "local"), ("1 worker process", "one"),
                           ("2 worker processes", "two")):
            print(f"| {label} | {t[key]:.2f} s | {1e3 * t[key] / n:.2f} | "
                  f"{t['local'] / t[key]:.2f}x |")
        print(f"\n- fixed cost of isolation in a CLI run (start the fork server and a worker): "
              f"{1e3 * start_up:.0f} ms")
        print(f"- per-op overhead of auditing in a worker: {1e3 * per_op:.2f} ms "
              f"({100 * per_op * n / t['local']:.0f}% of an in-process audit of these ops)")
        print(f"- 2 workers vs 1 worker: {t['one'] / t['two']:.2f}x")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
