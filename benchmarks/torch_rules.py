"""An opcheck Op as a torch.autograd.Function, so torch's gradcheck and gradgradcheck can
judge the same numpy rules opcheck audits (``benchmarks/verdicts.py --gallery rules``).

- ``backward`` becomes the Function's backward; where the op declares
  ``double_backward``, that backward is itself a Function whose backward is
  ``double_backward``, so gradgradcheck differentiates exactly the declared rule;
- ``jvp`` becomes the Function's forward-mode rule (``check_forward_ad=True``);
- inputs are the ones opcheck samples for each shape variant (complex ones included).

Needs ``pip install torch==2.13.0``; opcheck's tests never import it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import opcheck
from opcheck.complex_support import PARTS, realify, to_complex
from opcheck.sampling import rng_for, sample_inputs, variants


def _np(t: Any) -> Any:
    return None if t is None else t.detach().numpy()


def _t(a: Any) -> torch.Tensor:
    return torch.from_numpy(np.array(a, copy=True))


def as_function(op: opcheck.Op) -> Any:
    names = list(op.inputs)
    diff = set(op.differentiable_inputs)

    def grads_tuple(raw: Any) -> tuple[Any, ...]:
        got = raw if isinstance(raw, dict) else dict(zip(names, raw))
        return tuple(_t(got[n]) if n in diff and got.get(n) is not None else None for n in names)

    def backward_call(dout: Any, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        kwargs = {"dout": dout, **arrays}
        if op.backward_takes_out():
            kwargs["out"] = op.forward(**arrays)
        return op.backward(**kwargs)

    class Backward(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, dout: torch.Tensor, *args: torch.Tensor) -> Any:
            arrays = {n: _np(a) for n, a in zip(names, args)}
            ctx.arrays, ctx.dout = arrays, _np(dout)
            grads = grads_tuple(backward_call(_np(dout), arrays))
            return tuple(g if g is not None else torch.zeros(()) for g in grads)

        @staticmethod
        def backward(ctx: Any, *ggrads: torch.Tensor) -> Any:
            gg = {n: _np(g) for n, g in zip(names, ggrads) if n in diff}
            raw = op.double_backward(ggrads=gg, dout=ctx.dout, **ctx.arrays)
            return (_t(raw["dout"]), *grads_tuple(raw))

    class Fn(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, *args: torch.Tensor) -> Any:
            arrays = {n: _np(a) for n, a in zip(names, args)}
            ctx.arrays = arrays
            ctx.save_for_backward(*args)
            out = op.forward(**arrays)
            ctx.multi = isinstance(out, tuple)
            return tuple(_t(o) for o in out) if ctx.multi else _t(out)

        @staticmethod
        def backward(ctx: Any, *douts: torch.Tensor) -> Any:
            if op.backward is None:
                raise NotImplementedError("the op declares no backward")
            if op.double_backward is not None and not ctx.multi:
                grads = Backward.apply(douts[0], *ctx.saved_tensors)
                return tuple(g if n in diff else None for n, g in zip(names, grads))
            dout = tuple(_np(d) for d in douts) if ctx.multi else _np(douts[0])
            return grads_tuple(backward_call(dout, ctx.arrays))

        @staticmethod
        def jvp(ctx: Any, *tangents: torch.Tensor) -> Any:
            t = {n: (np.zeros_like(ctx.arrays[n]) if g is None else _np(g))
                 for n, g in zip(names, tangents) if n in diff}
            kwargs = {**ctx.arrays, "tangents": t}
            if op.jvp_takes_out():
                kwargs["out"] = op.forward(**ctx.arrays)
            out = op.jvp(**kwargs)
            return tuple(_t(o) for o in out) if ctx.multi else _t(out)

    return Fn


def sampled_inputs(op: opcheck.Op, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Variant label → the inputs opcheck's audit draws for it (complex ones as complex)."""
    real = realify(op)[0] if any(t.dtype in PARTS for t in op.inputs.values()) else op
    result = {}
    for label, dims in variants(op).items():
        values = sample_inputs(real, dims, rng_for(seed, op.name, label))
        result[label] = {n: to_complex(v, op.inputs[n].dtype) if op.inputs[n].dtype in PARTS else v
                         for n, v in values.items()}
    return result


def torch_verdict(op: opcheck.Op, seed: int = 0) -> str:
    """'flag' if gradcheck (check_forward_ad where the op has a jvp, check_backward_ad where
    it has a backward) or gradgradcheck (where it has a double_backward) rejects the op at
    any variant, or raises; else 'ok'."""
    fn = as_function(op)
    diff = set(op.differentiable_inputs)
    for values in sampled_inputs(op, seed).values():
        inputs = tuple(torch.tensor(v, requires_grad=n in diff) for n, v in values.items())
        try:
            ok = torch.autograd.gradcheck(
                fn.apply, inputs, check_forward_ad=op.jvp is not None,
                check_backward_ad=op.backward is not None, check_undefined_grad=False,
                check_batched_grad=False, raise_exception=False)
            if ok and op.double_backward is not None:
                ok = torch.autograd.gradgradcheck(
                    fn.apply, inputs, check_undefined_grad=False, check_batched_grad=False,
                    raise_exception=False)
        except Exception:  # noqa: BLE001 -- any refusal counts as flagging the op
            return "flag"
        if not ok:
            return "flag"
    return "ok"
