"""Complex inputs and outputs, audited as real ones.

A complex array ``z`` of shape ``s`` is the real array ``(Re z, Im z)`` of shape
``(*s, 2)``. ``realify(op)`` wraps an op's rules so that everything the audit sees is
real: then the finite differences move real and imaginary parts separately, tolerances
follow the part's dtype (complex64 → float32, complex128 → float64), and the convention
of CONTRACT.md §7 (torch's) falls out by itself:

- a complex output ``y`` with upstream gradient ``dout`` enters the loss as
  ``Re(conj(dout) · y) = dout_re·y_re + dout_im·y_im``, the real dot product of the pairs;
- the gradient of a complex input is ``dL/dRe(z) + i·dL/dIm(z)``, whose pair is exactly
  the real gradient of the pair ``(Re z, Im z)``.

The wrappers also refuse the mixed real/complex mistakes with a message that says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .contract import ContractError
from .result import VariantResult
from .spec import Op, Tensor

#: The real dtype of each complex dtype's parts.
PARTS = {"complex64": "float32", "complex128": "float64"}
NOTE = "complex: the last index of an element is 0 for its real part, 1 for its imaginary part"


class ComplexOutputs(Exception):
    """Forward returned a complex output from real inputs: audit the op realified."""


def has_complex_inputs(op: Op) -> bool:
    return any(t.dtype in PARTS for t in op.inputs.values())


def to_real(value: Any) -> Any:
    """A complex array as its (..., 2) real pairs; anything else unchanged."""
    if isinstance(value, (np.ndarray, np.generic, complex)) and np.asarray(value).dtype.kind == "c":
        z = np.asarray(value)
        return np.stack([z.real, z.imag], axis=-1)
    return value


def to_complex(pairs: np.ndarray, dtype: str) -> np.ndarray:
    """(..., 2) real pairs back to a complex array of ``dtype``."""
    pairs = np.asarray(pairs)
    z = np.empty(pairs.shape[:-1], dtype=dtype)
    z.real, z.imag = pairs[..., 0], pairs[..., 1]
    return z


def realify(op: Op) -> tuple[Op, dict[str, list[str | None]]]:
    """``op`` with every complex input and output seen as real pairs (module docstring),
    and what its forward last returned: ``{"dtypes": [complex dtype or None per output]}``."""
    pairs = _Pairs(op)
    rules: dict[str, Any] = {}
    if op.backward is not None:
        rules["backward"] = _with_out(pairs.backward, op.backward_takes_out())
    if op.jvp is not None:
        rules["jvp"] = _with_out(pairs.jvp, op.jvp_takes_out())
    if op.double_backward is not None:
        rules["double_backward"] = _with_out(pairs.double_backward, _takes_out(op.double_backward))
    inputs = {n: _real_tensor(t) if n in pairs.complex_in else t for n, t in op.inputs.items()}
    return Op(name=op.name, inputs=inputs, forward=pairs.forward, dims=op.dims,
              description=op.description, rtol=op.rtol, atol=op.atol, xfail=op.xfail,
              skip=op.skip, **rules), pairs.outs


class _Pairs:
    """The rules of one realified op: each turns the real pairs the audit passes into the
    complex values the op expects, calls the op's rule, and turns its result back."""

    def __init__(self, op: Op) -> None:
        self.op = op
        self.complex_in = {n: t.dtype for n, t in op.inputs.items() if t.dtype in PARTS}
        self.outs: dict[str, list[str | None]] = {"dtypes": []}  # per output: complex dtype or None

    def args(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Complex inputs (or their tangents, cotangents) from pairs; others unchanged."""
        return {k: to_complex(v, self.complex_in[k]) if k in self.complex_in else v
                for k, v in kwargs.items()}

    def complex_outs(self, value: Any) -> Any:
        """dout/out given as pairs → complex for each complex output."""
        dtypes = self.outs["dtypes"]
        if isinstance(value, tuple):
            return tuple(v if v is None or d is None else to_complex(v, d) for v, d in zip(value, dtypes))
        return value if value is None or not dtypes or dtypes[0] is None else to_complex(value, dtypes[0])

    def _call(self, kwargs: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        """The keyword arguments of a rule: inputs, ``extra`` and ``out`` as complex."""
        call = {**self.args(kwargs), **extra}
        if "out" in call:
            call["out"] = self.complex_outs(kwargs["out"])
        return call

    def forward(self, **kwargs: Any) -> Any:
        raw = self.op.forward(**self.args(kwargs))
        items = raw if isinstance(raw, tuple) else (raw,)
        self.outs["dtypes"] = [np.asarray(v).dtype.name if _is_complex(v) else None for v in items]
        return tuple(to_real(v) for v in raw) if isinstance(raw, tuple) else to_real(raw)

    def backward(self, dout: Any, **kwargs: Any) -> Any:
        raw = self.op.backward(**self._call(kwargs, dout=self.complex_outs(dout)))
        return _real_grads(raw, self.op, self.complex_in, "backward")

    def jvp(self, tangents: Mapping[str, Any], **kwargs: Any) -> Any:
        raw = self.op.jvp(**self._call(kwargs, tangents=self.args(tangents)))
        return _real_tangents(raw, self.outs["dtypes"])

    def double_backward(self, ggrads: Mapping[str, Any], dout: Any, **kwargs: Any) -> Any:
        raw = self.op.double_backward(**self._call(kwargs, ggrads=self.args(ggrads),
                                                   dout=self.complex_outs(dout)))
        if not isinstance(raw, Mapping):
            return raw
        result = _real_grads({k: v for k, v in raw.items() if k != "dout"}, self.op,
                             self.complex_in, "double_backward")
        if "dout" in raw:
            result["dout"] = self._dout_grad(raw["dout"])
        return result

    def _dout_grad(self, given: Any) -> Any:
        """double_backward's cotangent of dout, as pairs where the output is complex."""
        dtypes = self.outs["dtypes"]
        if isinstance(given, tuple):
            return tuple(None if g is None else _real_grad(g, f"dout[{k}]", d, "double_backward")
                         for k, (g, d) in enumerate(zip(given, dtypes)))
        return _real_grad(given, "dout", dtypes[0] if dtypes else None, "double_backward")


def returns_complex(raw: Any) -> bool:
    return any(_is_complex(v) for v in (raw if isinstance(raw, tuple) else (raw,)))


def _takes_out(fn: Any) -> bool:
    from .signatures import accepts as _accepts

    return _accepts(fn, "out")


def _with_out(fn: Any, takes_out: bool) -> Any:
    """The audit passes ``out`` only to a rule whose signature names it."""
    if not takes_out:
        return fn

    def with_out(*a: Any, out: Any = None, **kwargs: Any) -> Any:
        return fn(*a, out=out, **kwargs)

    return with_out


def _is_complex(value: Any) -> bool:
    return isinstance(value, (np.ndarray, np.generic, complex)) and np.asarray(value).dtype.kind == "c"


def _real_tensor(t: Tensor) -> Tensor:
    return Tensor(shape=(*t.shape, 2), dtype=PARTS[t.dtype], low=t.low, high=t.high,
                  differentiable=t.differentiable)


def _real_grad(value: Any, name: str, complex_dtype: str | None, role: str) -> Any:
    if not isinstance(value, (np.ndarray, np.generic, int, float, complex)):
        return value  # None, lists...: the contract's own checks name them
    arr = np.asarray(value)
    what = "output" if name == "dout" else "input"
    if complex_dtype is not None and arr.dtype.kind != "c":
        raise ContractError(
            f"{role} returned a real gradient ({arr.dtype}) for complex {what} {name!r} "
            f"({complex_dtype}); the gradient of a complex {what} is dL/dRe + i·dL/dIm, a complex "
            "array (torch's convention): returning only its real part drops dL/dIm"
        )
    if complex_dtype is None and arr.dtype.kind == "c":
        raise ContractError(
            f"{role} returned a complex gradient ({arr.dtype}) for real {what} {name!r}; the "
            "gradient of a real value is real: take the real part (np.real), where the "
            "imaginary part comes from a conj() that belongs elsewhere"
        )
    return to_real(arr)


def _real_grads(raw: Any, op: Op, complex_in: Mapping[str, str], role: str) -> Any:
    names = list(op.inputs)
    if isinstance(raw, Mapping):
        return {k: _real_grad(v, k, complex_in.get(k), role) if k in op.inputs else v
                for k, v in raw.items()}
    if isinstance(raw, tuple) and len(raw) == len(names):
        return tuple(_real_grad(v, n, complex_in.get(n), role) for n, v in zip(names, raw))
    return raw


def _real_tangents(raw: Any, dtypes: list[str | None]) -> Any:
    def one(value: Any, dtype: str | None, k: int) -> Any:
        if dtype is None and _is_complex(value):
            raise ContractError(f"jvp returned a complex tangent for real output {k}; the "
                                "tangent of a real output is real")
        if dtype is not None and isinstance(value, np.ndarray) and value.dtype.kind in "f":
            value = value.astype(dtype)  # a real tangent of a complex output: imaginary part 0
        return to_real(value)

    if isinstance(raw, tuple):
        return tuple(one(v, d, k) for k, (v, d) in enumerate(zip(raw, dtypes)))
    return one(raw, dtypes[0] if dtypes else None, 0)


def annotate(result: VariantResult, op: Op, complex_out: bool) -> None:
    """Name complex inputs (and a complex output's ``dout``) by their complex dtype."""
    for item in result.inputs:
        tensor = op.inputs.get(item.name)
        if item.status != "fail":  # the note explains the indices a failure shows
            if tensor is not None and tensor.dtype in PARTS:
                item.dtype = tensor.dtype
            continue
        if tensor is not None and tensor.dtype in PARTS:
            item.dtype = tensor.dtype
        elif not (item.name == "dout" and complex_out):
            continue
        if NOTE not in item.notes:
            item.notes.append(NOTE)


def note_once(variants: list[VariantResult]) -> None:
    """Keep the note on complex indices at its first failing input only: one per report."""
    seen = False
    for variant in variants:
        for item in variant.inputs:
            if NOTE in item.notes:
                if seen:
                    item.notes.remove(NOTE)
                seen = True
