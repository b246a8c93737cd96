"""Human- and machine-readable descriptions of an op's declaration (``opcheck show``)."""

from __future__ import annotations

import inspect
from typing import Any

from .plugin_manager import PluginInfo
from .sampling import variants
from .spec import Op


def source_location(fn: Any) -> str:
    try:
        fn = inspect.unwrap(fn)  # an adapted op (from_torch, from_jax) shows the user's code
        return f"{inspect.getsourcefile(fn)}:{inspect.getsourcelines(fn)[1]}"
    except (OSError, TypeError, ValueError):
        return "unknown"


def describe_op(op: Op, plugin: PluginInfo) -> str:
    lines = [
        f"op:          {op.name}",
        f"plugin:      {plugin.name} ({plugin.source})",
        f"forward:     {getattr(op.forward, '__qualname__', op.forward)!s} at {source_location(op.forward)}",
    ]
    for role in ("backward", "jvp", "double_backward"):
        fn = getattr(op, role)
        if fn is not None:
            lines.append(f"{role + ':':<12} {getattr(fn, '__qualname__', fn)!s} at {source_location(fn)}")
    if op.description:
        lines.append(f"description: {op.description}")
    dims = op.default_dims()
    lines.append("dims:        " + (", ".join(f"{k}={v}" for k, v in dims.items()) or "none"))
    shown = variants(op)
    lines.append("variants:    " + ", ".join(shown))
    small = _small_dims(op, shown)
    if small:  # a label names one dim; the others of a large op are small too
        lines.append(f"             (each but the first at {small}, the label's dim as it says)")
    lines.append("inputs:")
    for name, t in op.inputs.items():
        shape = "(" + ", ".join(str(s) for s in t.shape) + ("," if len(t.shape) == 1 else "") + ")"
        low, high = t.bounds
        bracket = ")" if t.dtype.startswith(("int", "uint")) else "]"
        diff = "differentiable" if t.is_differentiable else "not differentiable"
        values = (f"drawn by sampler {t.model_dump(mode='json')['sampler']!r}" if t.sampler is not None
                  else "values False or True" if t.dtype == "bool"  # not the [0, 2) it is drawn from
                  else f"values in [{_number(low)}, {_number(high)}{bracket}")
        lines.append(f"  {name}: shape {shape}, {t.dtype}, {values}, {diff}")
    for attr, values in op.attrs.items():
        lines.append(f"attr:        {attr} in {list(values)} (default {values[0]!r})")
    if op.constraints:
        lines.append("constraints: " + "; ".join(op.constraints))
    if op.residuals:
        lines.append("residuals:   forward returns (output, residuals)")
    if op.rtol is not None or op.atol is not None:
        lines.append(f"tolerance:   rtol={op.rtol}, atol={op.atol}")
    return "\n".join(lines)


def _small_dims(op: Op, shown: dict[str, dict[str, int]]) -> str:
    """"N=5, K=5, M=6" where the non-default variants start from smaller dims than the
    declared ones (``configurations.small_base``), else ""."""
    from .configurations import plan, small_base

    dims = op.default_dims()
    if len(shown) < 2:
        return ""
    attrs = next(iter(plan(op).values()))[1]
    base = small_base(op, dims, attrs)
    return ", ".join(f"{k}={v}" for k, v in base.items()) if base != dims else ""


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def input_schema(op: Op, plugin: PluginInfo | None = None) -> dict[str, Any]:
    """The op's declaration as JSON: where it comes from, its dims and variants, each
    input as declared (``declared``, nulls for defaults) and as audited (``low``,
    ``high``, ``differentiable`` resolved), and the pydantic JSON schema of an input."""
    from .spec import Tensor

    def one(t: Tensor) -> dict[str, Any]:
        low, high = t.bounds
        if t.sampler is not None:  # a sampler's values have no declared range
            low, high = (None if v in (-float("inf"), float("inf")) else v for v in (low, high))
        return {"shape": list(t.shape), "dtype": t.dtype, "low": low, "high": high,
                "differentiable": t.is_differentiable, "declared": t.model_dump(mode="json")}

    return {
        "op": op.name,
        "plugin": None if plugin is None else {"name": plugin.name, "source": plugin.source},
        "forward": source_location(op.forward),
        "backward": source_location(op.backward) if op.backward is not None else None,
        "jvp": source_location(op.jvp) if op.jvp is not None else None,
        "double_backward": (source_location(op.double_backward)
                            if op.double_backward is not None else None),
        "description": op.description,
        "dims": op.default_dims(),
        "variants": list(variants(op)),
        "variant_dims": variants(op),
        "attrs": {k: list(v) for k, v in op.attrs.items()},
        "constraints": list(op.constraints),
        "residuals": op.residuals,
        "inputs": {name: one(t) for name, t in op.inputs.items()},
        "tensor_schema": Tensor.model_json_schema(),
    }
