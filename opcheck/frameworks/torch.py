"""``opcheck.from_torch``: audit an op written in torch through torch autograd's own rule.

The forward runs ``fn`` on CPU tensors made from opcheck's numpy arrays; the backward is
``torch.autograd.grad`` through ``fn``, so the ``backward`` of a ``torch.autograd.Function``
or the rule given to ``torch.library.register_autograd`` is what gets compared with
finite differences. Each backward call runs ``fn`` twice, on contiguous inputs and on
strided (non-contiguous) copies of them, and the two must agree: an op that reads memory
assuming contiguous strides is an error, not a silently skipped case.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..contract import ContractError
from ..spec import Op, Tensor
from .common import build_op, check_fn, import_framework, rule, split

__all__ = ["from_torch"]


def from_torch(
    name: str,
    fn: Callable[..., Any],
    *,
    inputs: Mapping[str, Tensor | Mapping[str, Any]],
    dims: Mapping[str, int] | None = None,
    attrs: Mapping[str, Any] | None = None,
    jvp: bool | None = None,
    **fields: Any,
) -> Op:
    """An ``Op`` whose forward is ``fn`` on torch tensors and whose backward is autograd's.

    ``fn`` takes each input by keyword (and each attr, if any) and returns a tensor or a
    tuple of tensors. ``jvp=True`` also audits fn's forward-mode rule (through
    ``torch.autograd.forward_ad``); the default turns it on only for a
    ``torch.autograd.Function``'s ``apply`` that defines ``jvp``. Other keywords are
    ``Op`` fields (``description``, ``rtol``, ``xfail``, ...).
    """
    torch = import_framework("torch", "torch", "from_torch")
    check_fn("from_torch", name, fn, inputs, attrs)
    adapter = _TorchAdapter(torch, fn)
    if jvp is None:
        jvp = _defines_jvp(torch, fn)
    rules = {role: rule("from_torch", role, getattr(adapter, role), _shown(torch, fn, role))
             for role in ("forward", "backward", "jvp")}
    if not jvp:
        rules["jvp"] = None
    op = build_op("from_torch", name, inputs, dims, attrs, rules, fields)
    adapter.inputs = op.inputs
    return op


def _shown(torch: Any, fn: Callable[..., Any], role: str) -> Any:
    """What ``opcheck show`` points at for ``role``: the autograd.Function's own method,
    a torch.library custom op's function and registered backward, else ``fn``."""
    function = _function_class(torch, fn)
    if function is not None:
        return getattr(function, role, fn)
    # torch.library.custom_op's CustomOpDef keeps both (private names: best effort).
    found = {"forward": getattr(fn, "_init_fn", None), "backward": getattr(fn, "_backward_fn", None)}
    return found.get(role) or fn


def _function_class(torch: Any, fn: Callable[..., Any]) -> Any:
    """The autograd.Function whose ``apply`` ``fn`` is, or None."""
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type) and issubclass(owner, torch.autograd.Function):
        return owner
    return None


def _defines_jvp(torch: Any, fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is ``SomeFunction.apply`` of an autograd.Function with a ``jvp``."""
    owner = _function_class(torch, fn)
    return owner is not None and owner.jvp is not torch.autograd.Function.jvp


class LayoutError(RuntimeError):
    """``fn`` gave different results for strided inputs than for contiguous ones."""


class _TorchAdapter:
    """The op's forward, backward and jvp; ``inputs`` is set once the Op is built."""

    def __init__(self, torch: Any, fn: Callable[..., Any]) -> None:
        self.torch = torch
        self.fn = fn
        self.inputs: dict[str, Tensor] = {}

    # --- the three rules opcheck calls ------------------------------------------------

    def forward(self, **kwargs: Any) -> Any:
        arrays, attrs = split(kwargs, self.inputs)
        with self.torch.no_grad():
            out = self.fn(**{k: _tensor(self.torch, v) for k, v in arrays.items()}, **attrs)
        outs = _outputs(self.torch, out)
        converted = tuple(_array(o) for o in outs)
        return converted if isinstance(out, (tuple, list)) else converted[0]

    def backward(self, dout: Any, **kwargs: Any) -> dict[str, np.ndarray]:
        arrays, attrs = split(kwargs, self.inputs)
        douts = dout if isinstance(dout, tuple) else (dout,)
        outs, grads = self._vjp(arrays, attrs, douts, strided=False)
        try:
            outs_s, grads_s = self._vjp(arrays, attrs, douts, strided=True)
        except Exception as exc:
            raise LayoutError(
                f"fn raised {type(exc).__name__} on non-contiguous inputs (strided copies, as a "
                f"transpose or slice gives) although it runs on contiguous ones: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            ) from exc
        for k, (a, b) in enumerate(zip(outs, outs_s)):
            _same_or_raise(a, b, f"output {k}")
        for key in grads:
            _same_or_raise(grads[key], grads_s[key], f"the gradient of {key!r}")
        return grads

    def jvp(self, tangents: Mapping[str, Any], **kwargs: Any) -> Any:
        torch = self.torch
        fwad = _forward_ad(torch)

        arrays, attrs = split(kwargs, self.inputs)
        with fwad.dual_level():
            args = {}
            for key, value in arrays.items():
                primal = _tensor(torch, value)
                if key in tangents and tangents[key] is not None:
                    tangent = _tensor(torch, np.asarray(tangents[key], dtype=value.dtype))
                    primal = fwad.make_dual(primal, tangent)
                args[key] = primal
            out = self.fn(**args, **attrs)
            result = []
            for o in _outputs(torch, out):
                if not (o.is_floating_point() or o.is_complex()):
                    result.append(None)
                    continue
                tangent = fwad.unpack_dual(o).tangent
                result.append(_array(torch.zeros_like(o) if tangent is None else tangent))
        return tuple(result) if isinstance(out, (tuple, list)) else result[0]

    # --- helpers -------------------------------------------------------------------------

    def _vjp(
        self, arrays: dict[str, np.ndarray], attrs: dict[str, Any], douts: tuple[Any, ...],
        strided: bool,
    ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        torch = self.torch
        layout = functools.partial(_strided, torch) if strided else (lambda t: t)
        names = [k for k in arrays if self.inputs[k].is_differentiable]
        with torch.enable_grad():
            args = {}
            for key, value in arrays.items():
                t = layout(_tensor(torch, value))
                if key in names:
                    t = t.detach().requires_grad_(True)
                args[key] = t
            outs = _outputs(torch, self.fn(**args, **attrs))
            pairs = [(o, layout(_tensor(torch, np.asarray(d, dtype=_numpy_dtype(o)))))
                     for o, d in zip(outs, douts) if d is not None and o.requires_grad]
            found: tuple[Any, ...] = (None,) * len(names)
            if pairs and names:
                found = torch.autograd.grad(
                    [o for o, _ in pairs], [args[k] for k in names],
                    grad_outputs=[d for _, d in pairs], allow_unused=True,
                )
        grads = {k: _array(torch.zeros_like(args[k]) if g is None else g)
                 for k, g in zip(names, found)}
        return [_array(o) for o in outs], grads


@functools.cache
def _forward_ad(torch: Any) -> Any:
    """``torch.autograd.forward_ad``, warmed up. Its first ``make_dual`` loads torch's
    jvp decompositions through ``torch.jit.script``, which in torch 2.13 warns that it is
    deprecated: torch's own warning, raised in the op's audit (an error under
    ``-W error``). Load them once here with that one warning silenced."""
    import warnings

    import torch.autograd.forward_ad as fwad

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script", category=DeprecationWarning)
        with fwad.dual_level():
            fwad.make_dual(torch.zeros(1), torch.zeros(1))
    return fwad


def _tensor(torch: Any, value: Any) -> Any:
    """A CPU tensor over ``value``'s memory where numpy allows it (so that an op which
    writes into its input is caught by opcheck's mutation check), else over a copy."""
    arr = np.asarray(value)
    if not arr.flags.writeable or any(s < 0 for s in arr.strides):
        arr = arr.copy()
    return torch.from_numpy(arr)


def _strided(torch: Any, t: Any) -> Any:
    """A non-contiguous copy of ``t`` (every stride doubled): same values, other layout."""
    if t.dim() == 0 or t.numel() <= 1:
        return t.clone()
    strides = tuple(2 * s for s in t.contiguous().stride())
    out = torch.empty_strided(tuple(t.shape), strides, dtype=t.dtype)
    out.copy_(t)
    return out


def _outputs(torch: Any, out: Any) -> tuple[Any, ...]:
    outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    for k, o in enumerate(outs):
        if not isinstance(o, torch.Tensor):
            what = "its output" if len(outs) == 1 else f"output {k}"
            raise TypeError(
                f"fn returned {what} as {_article(type(o).__name__)}; from_torch expects a torch.Tensor "
                "or a tuple of tensors"
            )
        if o.dtype == torch.bfloat16:
            raise ContractError(  # opcheck's refusal, not a crash of fn
                "fn returned a bfloat16 tensor, which numpy cannot hold; finite differences at "
                "bfloat16's precision (8 bits) cannot check a gradient: audit the op in float32 "
                "(declare float32 inputs; see docs/frameworks.md)"
            )
    return outs


def _array(t: Any) -> np.ndarray:
    """A numpy copy of a tensor: nothing opcheck gets shares memory with fn's tensors."""
    return np.array(t.detach().numpy(force=True), copy=True)


def _numpy_dtype(t: Any) -> np.dtype:
    return np.dtype(str(t.dtype).removeprefix("torch."))


def _same_or_raise(contiguous: np.ndarray, strided: np.ndarray, what: str) -> None:
    """The two layouts agree to rounding (a strided matmul may sum in another order); a NaN
    in both places is left to opcheck's own finiteness checks."""
    floating = contiguous.dtype.kind in "fc"
    if contiguous.shape == strided.shape and np.array_equal(contiguous, strided,
                                                            equal_nan=floating):
        return
    if contiguous.shape == strided.shape and floating:
        eps = float(np.finfo(contiguous.dtype).eps)
        finite = np.isfinite(contiguous) & np.isfinite(strided)
        scale = max(float(np.max(np.abs(contiguous[finite]), initial=0.0)),
                    float(np.max(np.abs(strided[finite]), initial=0.0)), 1e-30)
        diff = np.abs(contiguous.astype(np.complex128) - strided.astype(np.complex128))
        same_nan = np.isnan(contiguous) & np.isnan(strided)
        diff = np.where(same_nan, 0.0, np.nan_to_num(diff, nan=np.inf))
        if float(np.max(diff, initial=0.0)) <= min(1e3 * eps, 2e-2) * scale:
            return
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
    else:
        bad = np.argwhere(contiguous != strided) if contiguous.shape == strided.shape else []
        index = tuple(int(i) for i in bad[0]) if len(bad) else ()
    raise LayoutError(
        f"{what} depends on memory layout: at index {index} it is "
        f"{_at(contiguous, index)} for contiguous inputs but {_at(strided, index)} for "
        "non-contiguous ones (strided copies, as a transpose or slice gives); does fn use "
        ".view, as_strided or data_ptr assuming contiguous strides? call .contiguous() first"
    )


def _at(arr: np.ndarray, index: tuple[int, ...]) -> str:
    try:
        return f"{arr[index].item():.6g}"
    except (IndexError, TypeError, ValueError):
        return f"shape {arr.shape}"


def _article(noun: str) -> str:
    """"an int", "a float": the message reads as English."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"
