"""opcheck on ops written in torch and JAX, against each framework's own checker.

Runs the galleries tests/gallery/torch_ops.py and jax_ops.py (bugs people write in
autograd.Function / torch.library / custom_vjp / custom_jvp rules, and correct ops that
are hard to check) through:
- opcheck.audit, full and fast mode (every shape variant);
- torch.autograd.gradcheck (defaults, and fast_mode=True) or jax.test_util.check_grads
  (defaults, order=1; modes ("fwd", "rev"), or ("rev",) where fn has no forward mode),
  each on the op's default shapes, with the same sampled inputs, at the declared dtype;
and the same two with float32 inputs cast to float64 (the usual workaround);
and prints per tool bugs caught, false alarms and time per op. Then it measures what
``jax.jit`` saves: one audit with the adapter's compiled forward against the same audit
under ``jax.disable_jit()``; and the adapters' overhead: an audit of ``tanh(x @ w)``
written in torch or JAX against the same op written in numpy.

    python benchmarks/frameworks.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
import warnings

import numpy as np

import opcheck
from opcheck import Tensor
from opcheck.sampling import rng_for, sample_inputs

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "gallery"))


def _timed(fn):
    start = time.perf_counter()
    try:
        flagged = fn()
    except Exception:  # noqa: BLE001 (a tool that raises on the op has flagged it)
        flagged = True
    return flagged, time.perf_counter() - start


def _inputs(op, upcast: bool = False):
    """The inputs opcheck's own default variant samples (seed 0): every tool sees these;
    ``upcast`` casts float inputs to float64, the usual workaround for float32 ops."""
    values = sample_inputs(op, op.default_dims(), rng_for(0, op.name, "default"))
    if upcast:
        values = {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in values.items()}
    return values


def _gradcheck(case, fast: bool, upcast: bool = False):
    import torch

    op = case.op
    values = _inputs(op, upcast)
    names = list(op.inputs)
    tensors = [torch.from_numpy(values[n].copy()).requires_grad_(op.inputs[n].is_differentiable)
               for n in names]
    fn = op.forward.__self__.fn

    def call(*args):
        return fn(**dict(zip(names, args)))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return not torch.autograd.gradcheck(call, tensors, raise_exception=False, fast_mode=fast)


def _check_grads(case, upcast: bool = False):
    import jax
    from jax.test_util import check_grads

    op = case.op
    values = _inputs(op, upcast)
    diff = [n for n in op.inputs if op.inputs[n].is_differentiable]
    fixed = {n: v for n, v in values.items() if n not in diff}
    fn = op.forward.__self__.fn

    def call(*args):
        return fn(**fixed, **dict(zip(diff, args)))

    modes = ("fwd", "rev") if op.jvp is not None else ("rev",)
    with jax.enable_x64(True):
        check_grads(call, tuple(values[n] for n in diff), order=1, modes=modes)
    return False


def _opcheck(case, mode: str):
    return opcheck.audit(case.op, mode=mode).status != "pass"


def _table(title: str, cases, tools) -> None:
    print(f"\n{title}")
    print(f"{'tool':<46}{'bugs caught':>13}{'false alarms':>14}{'ms / op':>10}")
    for label, tool in tools.items():
        _timed(lambda tool=tool: tool(cases[0]))  # warm-up: imports and first compilations are not the op's
        results = [(c, *_timed(lambda c=c, tool=tool: tool(c))) for c in cases]
        bugs = [r for r in results if r[0].verdict != "pass"]
        good = [r for r in results if r[0].verdict == "pass"]
        caught = sum(1 for _, f, _ in bugs if f)
        alarms = [c.op.name for c, f, _ in good if f]
        missed = [c.op.name for c, f, _ in bugs if not f]
        ms = 1e3 * float(np.median([t for _, _, t in results]))
        print(f"{label:<46}{caught:>7} / {len(bugs):<4}{len(alarms):>7} / {len(good):<5}{ms:>9.1f}")
        if missed:
            print(f"    missed: {', '.join(missed)}")
        if alarms:
            print(f"    false alarms: {', '.join(alarms)}")


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _overheads(repeat: int) -> None:
    import jax
    import jax.numpy as jnp
    import torch

    print("\ncost of the adapters: one full audit of tanh(x @ w), best of", repeat)
    print(f"{'size':<18}{'numpy ms':>10}{'torch / numpy':>15}{'jax / numpy':>13}"
          f"{'jax no-jit / jit':>18}{'jax first audit ms':>20}")
    for n, d, m in [(3, 4, 5), (16, 32, 16), (48, 48, 48)]:
        inputs = {"x": Tensor(shape=(n, d)), "w": Tensor(shape=(d, m))}
        numpy_op = opcheck.Op(
            name="np.tanh_mm", inputs=inputs,
            forward=lambda x, w: np.tanh(x @ w),
            backward=lambda dout, x, w, out: {"x": (dout * (1 - out**2)) @ w.T,
                                              "w": x.T @ (dout * (1 - out**2))})
        torch_op = opcheck.from_torch("t.tanh_mm", lambda x, w: torch.tanh(x @ w), inputs=inputs)
        jax_op = opcheck.from_jax("j.tanh_mm", lambda x, w: jnp.tanh(x @ w), inputs=inputs)
        first = _best(functools.partial(opcheck.audit, jax_op), 1)  # compiles each shape
        t_np = _best(functools.partial(opcheck.audit, numpy_op), repeat)
        t_torch = _best(functools.partial(opcheck.audit, torch_op), repeat)
        t_jax = _best(functools.partial(opcheck.audit, jax_op), repeat)
        with jax.disable_jit():
            t_eager = _best(functools.partial(opcheck.audit, jax_op), repeat)
        print(f"{f'{n}x{d}·{d}x{m}':<18}{1e3 * t_np:>10.2f}{t_torch / t_np:>15.1f}"
              f"{t_jax / t_np:>13.1f}{t_eager / t_jax:>18.1f}{1e3 * first:>20.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import jax_ops
    import torch_ops

    _table(f"torch gallery ({len(torch_ops.CASES)} ops)", torch_ops.CASES, {
        "torch.autograd.gradcheck (defaults)": lambda c: _gradcheck(c, fast=False),
        "torch.autograd.gradcheck (fast_mode)": lambda c: _gradcheck(c, fast=True),
        "gradcheck, float32 inputs cast to float64": lambda c: _gradcheck(c, False, True),
        "opcheck full": lambda c: _opcheck(c, "full"),
        "opcheck fast": lambda c: _opcheck(c, "fast"),
    })
    _table(f"JAX gallery ({len(jax_ops.CASES)} ops)", jax_ops.CASES, {
        "jax.test_util.check_grads (defaults)": _check_grads,
        "check_grads, float32 inputs cast to float64": lambda c: _check_grads(c, True),
        "opcheck full": lambda c: _opcheck(c, "full"),
        "opcheck fast": lambda c: _opcheck(c, "fast"),
    })
    _overheads(args.repeat)


if __name__ == "__main__":
    main()
