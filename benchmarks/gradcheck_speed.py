"""How fast is a full (and a fast) audit of the seed's matmul, measured in one run?

Prints, for matmul X(N×D) · W(D×M) from the seed's 3x4·4x5 up to 128x128·128x128, the
seconds and the ratios against the bare cost of 2n forward calls (the floor any
element-wise central-difference check pays), against the seed notebook's
eval_numerical_gradient_array loop, and against torch.autograd.gradcheck (slow and
fast mode) when torch is installed (`pip install torch==2.13.0`).

    python benchmarks/gradcheck_speed.py [--repeat 5] [--max-size 128]

Times are the best of --repeat runs (after one warm-up run that also verifies batching).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from opcheck_plugins.matmul import matmul_backward, matmul_forward

import opcheck

SIZES = [(3, 4, 5), (16, 32, 16), (64, 64, 64), (128, 128, 128)]


def best(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: caches, first-call effects, batching verification
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def floor(x: np.ndarray, w: np.ndarray) -> Callable[[], None]:
    calls = 2 * (x.size + w.size)

    def run() -> None:
        for _ in range(calls):
            matmul_forward(x=x, w=w)

    return run


def seed_loop(x: np.ndarray, w: np.ndarray, dout: np.ndarray) -> Callable[[], None]:
    """The seed notebook's check, as written there (eval_numerical_gradient_array)."""

    def eval_numerical_gradient_array(f, x, df, h=1e-5):
        grad = np.zeros_like(x)
        it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
        while not it.finished:
            ix = it.multi_index
            oldval = x[ix]
            x[ix] = oldval + h
            pos = f(x).copy()
            x[ix] = oldval - h
            neg = f(x).copy()
            x[ix] = oldval
            grad[ix] = np.sum((pos - neg) * df) / (2 * h)
            it.iternext()
        return grad

    def run() -> None:
        xc, wc = x.copy(), w.copy()
        eval_numerical_gradient_array(lambda a: a.dot(wc), xc, dout)
        eval_numerical_gradient_array(lambda b: xc.dot(b), wc, dout)

    return run


def make_op(n: int, d: int, m: int) -> opcheck.Op:
    return opcheck.Op(
        name="matmul", forward=matmul_forward, backward=matmul_backward,
        inputs={"x": opcheck.Tensor(shape=("N", "D")), "w": opcheck.Tensor(shape=("D", "M"))},
        dims={"N": n, "D": d, "M": m},
    )


def torch_checks(x: np.ndarray, w: np.ndarray, fast: bool) -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tw = torch.tensor(w, dtype=torch.float64, requires_grad=True)

    def run() -> None:
        assert torch.autograd.gradcheck(torch.matmul, (tx, tw), fast_mode=fast)

    return run


def peak_bytes(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--max-size", type=int, default=128)
    parser.add_argument("--torch-slow-max", type=int, default=64,
                        help="largest size for torch's slow gradcheck (its Jacobians grow as n^2)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    header = (f"{'size':<18}{'n':>7}{'floor ms':>10}{'seed':>8}{'full':>8}{'fd':>7}{'fast':>8}"
              f"{'torch':>8}{'t.fast':>8}{'full/torch':>11}{'fast ms':>9}{'t.fast ms':>10}{'mem/in':>8}")
    print("ratios are time / floor (2n forward calls); lower is better")
    print(header)
    for n, d, m in SIZES:
        if max(n, d, m) > args.max_size:
            continue
        x, w = rng.standard_normal((n, d)), rng.standard_normal((d, m))
        dout = rng.standard_normal((n, m))
        op = make_op(n, d, m)
        base = best(floor(x, w), args.repeat)
        seed = best(seed_loop(x, w, dout), args.repeat)
        full = best(lambda: opcheck.audit(op, variant="default"), args.repeat)
        fd_part = min(
            sum(i.seconds for v in opcheck.audit(op, variant="default").variants for i in v.inputs)
            for _ in range(args.repeat)
        )
        fast = best(lambda: opcheck.audit(op, variant="default", mode="fast"), args.repeat)
        slow_fn = torch_checks(x, w, fast=False) if max(n, d, m) <= args.torch_slow_max else None
        fast_fn = torch_checks(x, w, fast=True)
        t_slow = best(slow_fn, 1) if slow_fn else None
        t_fast = best(fast_fn, args.repeat) if fast_fn else None
        mem = peak_bytes(lambda: opcheck.audit(op, variant="default")) / (x.nbytes + w.nbytes)

        def ratio(v: float | None) -> str:
            return "-" if v is None else f"{v / base:.2f}"

        vs_torch = "-" if t_slow is None else f"{t_slow / full:.0f}x"
        print(f"{f'{n}x{d}·{d}x{m}':<18}{x.size + w.size:>7}{base * 1e3:>10.3f}{ratio(seed):>8}"
              f"{ratio(full):>8}{ratio(fd_part):>7}{ratio(fast):>8}{ratio(t_slow):>8}{ratio(t_fast):>8}{vs_torch:>11}"
              f"{fast * 1e3:>9.3f}{'-' if t_fast is None else f'{t_fast * 1e3:.3f}':>10}{mem:>8.1f}")
    print("fd: the finite-difference part of the full audit alone (no contract checks)")
    print("full/torch: how many times faster opcheck's full audit is than torch's slow gradcheck")
    print("mem/in: peak traced memory of one full audit / bytes of the op's inputs")


if __name__ == "__main__":
    main()
