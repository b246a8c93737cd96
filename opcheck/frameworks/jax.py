"""``opcheck.from_jax``: audit an op written in JAX through JAX's own derivative rules.

The forward is ``jax.jit(fn)`` (compiled once per input shape, then reused by the 2n
perturbed calls), the backward ``jax.vjp`` and the jvp ``jax.jvp``, each jitted too, so a
``jax.custom_vjp`` or ``jax.custom_jvp`` rule is what gets compared with finite
differences. Every call runs inside ``jax.enable_x64(True)``, a context manager that
turns 64-bit types on for this thread and restores the user's setting afterwards: a
float64 input stays float64 without opcheck touching the global JAX config.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..contract import ContractError
from ..spec import Op, Tensor
from .common import build_op, check_fn, import_framework, rule, split

__all__ = ["from_jax"]


def from_jax(
    name: str,
    fn: Callable[..., Any],
    *,
    inputs: Mapping[str, Tensor | Mapping[str, Any]],
    dims: Mapping[str, int] | None = None,
    attrs: Mapping[str, Any] | None = None,
    jvp: bool | None = None,
    **fields: Any,
) -> Op:
    """An ``Op`` whose forward is ``jax.jit(fn)``, backward ``jax.vjp`` and jvp ``jax.jvp``.

    ``fn`` takes each input by keyword (and each attr, static under jit) and returns an
    array or a tuple of arrays. ``jvp=None`` audits forward mode wherever JAX can
    differentiate ``fn`` forward (not through a ``custom_vjp``), found by tracing it once
    at the default dims without running it; ``jvp=False`` turns it off. Other keywords are
    ``Op`` fields (``description``, ``rtol``, ``xfail``, ...).
    """
    jax = import_framework("jax", "jax", "from_jax")
    check_fn("from_jax", name, fn, inputs, attrs)
    adapter = _JaxAdapter(jax, fn)
    # opcheck show points at the registered rule where fn has one: a custom_vjp's bwd,
    # a custom_jvp's jvp.
    shown = {"forward": fn, "backward": getattr(fn, "bwd", None) or getattr(fn, "jvp", None) or fn,
             "jvp": getattr(fn, "jvp", None) or fn}
    rules = {role: rule("from_jax", role, getattr(adapter, role), shown[role])
             for role in ("forward", "backward", "jvp")}
    op = build_op("from_jax", name, inputs, dims, attrs, {**rules, "jvp": None}, fields)
    adapter.inputs = op.inputs
    if jvp is None:
        jvp = adapter.has_forward_mode(op, attrs)
    if not jvp:
        return op
    op = build_op("from_jax", name, inputs, dims, attrs, rules, fields)
    adapter.inputs = op.inputs
    return op


class _JaxAdapter:
    """The op's forward, backward and jvp; ``inputs`` is set once the Op is built."""

    def __init__(self, jax: Any, fn: Callable[..., Any]) -> None:
        self.jax = jax
        self.fn = fn
        self.inputs: dict[str, Tensor] = {}
        self._jitted: dict[Any, Callable[..., Any]] = {}
        self._traceable = True

    # --- the three rules opcheck calls ------------------------------------------------

    def forward(self, **kwargs: Any) -> Any:
        arrays, attrs = split(kwargs, self.inputs)
        with self.jax.enable_x64(True):
            out = self._run("forward", attrs, arrays)
            return _to_numpy(out)

    def backward(self, dout: Any, **kwargs: Any) -> dict[str, np.ndarray]:
        """``jax.vjp`` in opcheck's (torch's) complex convention: JAX's cotangents are the
        conjugates of torch's, so a complex dout goes in conjugated and a complex
        gradient comes out conjugated (for real arrays both are no-ops)."""
        arrays, attrs = split(kwargs, self.inputs)
        with self.jax.enable_x64(True):
            grads = self._run("vjp", attrs, arrays, _conjugate(dout))
            return {k: _conjugate(np.asarray(v)) if np.iscomplexobj(v) else np.array(v, copy=True)
                    for k, v in grads.items()}

    def jvp(self, tangents: Mapping[str, Any], **kwargs: Any) -> Any:
        arrays, attrs = split(kwargs, self.inputs)
        names = self._differentiable()
        given = {k: np.asarray(tangents[k], dtype=arrays[k].dtype) for k in names}
        with self.jax.enable_x64(True):
            out_tangent = self._run("jvp", attrs, arrays, given)
            return _to_numpy(out_tangent, float0_is_none=True)

    def has_forward_mode(self, op: Op, attrs: Mapping[str, Any] | None) -> bool:
        """Whether ``jax.jvp`` can differentiate ``fn`` (a ``custom_vjp`` cannot): lowered
        at the default dims, neither compiled nor run, so a crashing op stays harmless."""
        jax = self.jax
        dims = op.default_dims()
        config = {k: v[0] if isinstance(v, list) else v for k, v in (attrs or {}).items()}
        with jax.enable_x64(True):
            shapes = {k: jax.ShapeDtypeStruct(t.concrete_shape(dims), np.dtype(t.dtype))
                      for k, t in op.inputs.items()}
            tangents = {k: shapes[k] for k in self._differentiable()}
            try:  # lowering, not tracing alone, is where a custom_vjp refuses jvp
                jax.jit(functools.partial(self._jvp_of, config)).trace(shapes, tangents).lower()
            except Exception:  # noqa: BLE001 (no forward mode, or fn fails: the audit says which)
                return False
        return True

    # --- the functions that get jitted ---------------------------------------------------

    def _differentiable(self) -> list[str]:
        return [k for k, t in self.inputs.items() if t.is_differentiable]

    def _closed(self, arrays: dict[str, Any], attrs: dict[str, Any]) -> Callable[..., Any]:
        """fn as a function of the differentiable inputs alone, in order."""
        names = self._differentiable()

        def f(*primals: Any) -> Any:
            return self.fn(**{**arrays, **dict(zip(names, primals))}, **attrs)

        return f

    def _forward_of(self, attrs: dict[str, Any], arrays: dict[str, Any]) -> Any:
        return self.fn(**arrays, **attrs)

    def _vjp_of(self, attrs: dict[str, Any], arrays: dict[str, Any], dout: Any) -> dict[str, Any]:
        jax = self.jax
        names = self._differentiable()
        out, pullback = jax.vjp(self._closed(arrays, attrs), *(arrays[k] for k in names))
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        douts = list(dout) if isinstance(dout, tuple) else [dout]
        cots = [
            np.zeros(o.shape, dtype=jax.dtypes.float0) if d is None or not _is_inexact(o)
            else jax.numpy.asarray(d, dtype=o.dtype)
            for o, d in zip(outs, douts)
        ]
        cot = type(out)(cots) if isinstance(out, (tuple, list)) else cots[0]
        return dict(zip(names, pullback(cot)))

    def _jvp_of(self, attrs: dict[str, Any], arrays: dict[str, Any], tangents: dict[str, Any]) -> Any:
        names = self._differentiable()
        _, out_tangent = self.jax.jvp(self._closed(arrays, attrs),
                                      tuple(arrays[k] for k in names),
                                      tuple(tangents[k] for k in names))
        return out_tangent

    def _run(self, kind: str, attrs: dict[str, Any], *args: Any) -> Any:
        """Run the forward, VJP or JVP: jitted, unless ``fn`` cannot be traced (Python
        control flow on values, numpy on a tracer), which JAX code run eagerly may do; such
        an fn is then run eagerly from here on, as its author runs it."""
        target = {"forward": self._forward_of, "vjp": self._vjp_of, "jvp": self._jvp_of}[kind]
        if not self._traceable:
            return target(dict(attrs), *args)
        errors = self.jax.errors
        try:
            return self._compiled(kind, attrs, target)(*args)
        except (errors.ConcretizationTypeError, errors.TracerArrayConversionError,
                errors.TracerIntegerConversionError):
            self._traceable = False
            return target(dict(attrs), *args)

    def _compiled(self, kind: str, attrs: dict[str, Any], target: Callable[..., Any]) -> Callable[..., Any]:
        """The jitted function of this kind for these attr values, built once; jax.jit's
        own cache then compiles it once per input signature (shapes and dtypes), which the
        audit's 2n perturbed calls share. (Running the first call of each signature
        eagerly instead was measured slower: eager JAX compiles every primitive.)"""
        try:
            key = (kind, tuple(sorted(attrs.items())))
            hash(key)
        except TypeError:  # an unhashable attr value: compiled per call, still correct
            return self.jax.jit(functools.partial(target, dict(attrs)))
        if key not in self._jitted:
            self._jitted[key] = self.jax.jit(functools.partial(target, dict(attrs)))
        return self._jitted[key]


def _conjugate(value: Any) -> Any:
    """The complex conjugate of an array, or of each array of a tuple (None kept)."""
    if isinstance(value, tuple):
        return tuple(_conjugate(v) for v in value)
    if value is None or not np.iscomplexobj(value):
        return value
    return np.conj(value)


def _is_inexact(x: Any) -> bool:
    return np.dtype(x.dtype).kind in "fc"


def _to_numpy(out: Any, float0_is_none: bool = False) -> Any:
    """JAX arrays → numpy copies (a tuple for a tuple or list of outputs)."""
    if isinstance(out, (tuple, list)):
        return tuple(_one(o, float0_is_none) for o in out)
    return _one(out, float0_is_none)


def _one(value: Any, float0_is_none: bool) -> Any:
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        raise TypeError(
            f"fn returned a {type(value).__name__}; from_jax expects a JAX array or a tuple "
            "of arrays"
        )
    if float0_is_none and (dtype.name == "float0" or np.dtype(dtype).kind not in "fc"):
        return None
    if dtype.name == "bfloat16":
        raise ContractError(  # opcheck's refusal, not a crash of fn
            "fn returned a bfloat16 array; finite differences at bfloat16's precision "
            "(8 bits) cannot check a gradient: audit the op in float32 (see docs/frameworks.md)"
        )
    return np.array(value, copy=True)
