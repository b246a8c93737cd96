"""Forward-mode rules (``Op.jvp``): checked against finite differences of forward, and
against ``backward`` through the adjoint identity <jvp(u), v> = <u, backward(v)>.

The JVP is compared in the same projection as the VJP check: for input ``x`` its
"gradient" is ``g_i = <dout, jvp(e_i)>``, so the finite differences, steps, error
estimates, kinks and fast mode of ``checker.py`` apply unchanged and a wrong JVP is
localised to its elements. Fast mode needs only ``<dout, jvp(d)>`` along four random
directions; the dense ``g`` (one jvp call per element, basis tangents) is computed only
when an element must be named.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import audit_progress, batching, contract
from .checker import GradientChecker
from .contract import ContractError
from .result import Element, InputResult, VariantResult
from .spec import Op

#: The adjoint identity holds to rounding: |<jvp(u), v> - <u, backward(v)>| is allowed
#: this many units of eps, times sqrt(size) (dot products' rounding adds up like a
#: random walk), times the size of the two sides.
ADJOINT_FACTOR = 64.0


def jvp_kwargs(op: Op, values: Mapping[str, np.ndarray], tangents: Mapping[str, np.ndarray],
               out: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {**values, "tangents": dict(tangents)}
    if op.jvp_takes_out():
        kwargs["out"] = out
    return kwargs


def output_tangents(raw: Any, douts: list[np.ndarray | None], outs: list[np.ndarray],
                    multi: bool) -> list[np.ndarray | None]:
    """jvp's result as one array per output (None for an integer output), checked."""
    if multi:
        if not isinstance(raw, tuple) or len(raw) != len(outs):
            raise ContractError(
                f"jvp returned {contract._kind(raw)}; forward has {len(outs)} outputs, so jvp "
                f"returns a tuple of {len(outs)} output tangents (None for an integer output)"
            )
        items = list(raw)
    else:
        items = [raw]
    result: list[np.ndarray | None] = []
    for k, (value, out, dout) in enumerate(zip(items, outs, douts)):
        what = "its output tangent" if not multi else f"the tangent of output {k}"
        if dout is None:
            result.append(None)
            continue
        if not isinstance(value, (np.ndarray, np.generic, int, float)):
            raise ContractError(
                f"jvp returned {what} as {contract._kind(value)}; expected a numpy array shaped "
                f"like the output {out.shape}"
            )
        arr = np.asarray(value)
        if arr.shape != out.shape:
            raise ContractError(
                f"jvp returned {what} of shape {arr.shape}; the output has shape {out.shape} "
                "(an output tangent has its output's shape)"
            )
        if arr.dtype.kind not in "biuf":
            raise ContractError(f"jvp returned {what} with dtype {arr.dtype}; expected a real dtype")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
            raise ContractError(
                f"jvp returned {arr[bad]} in {what} at index {bad} although every input and "
                "tangent is finite"
            )
        result.append(arr)
    return result


def _project(douts: list[np.ndarray | None], tangents: list[np.ndarray | None]) -> float:
    """<dout, t> over the differentiable outputs, in float64."""
    return float(sum(np.vdot(np.ravel(d).astype(np.float64), np.ravel(t).astype(np.float64))
                     for d, t in zip(douts, tangents) if d is not None and t is not None))


class JvpGradient:
    """``<dout, jvp(e_i)>`` over the elements of one input: the gradient a JVP implies,
    cheap along a few directions, one jvp call per element in full."""

    def __init__(self, op: Op, values: Mapping[str, np.ndarray], name: str,
                 zeros: Mapping[str, np.ndarray], douts: list[np.ndarray | None],
                 outs: list[np.ndarray], multi: bool, out_arg: Any) -> None:
        self.op, self.name, self.douts, self.outs, self.multi = op, name, douts, outs, multi
        self.views = {k: batching.readonly(v) for k, v in values.items()}
        self.zeros = dict(zeros)
        self.shape = values[name].shape
        self.dtype = values[name].dtype
        self.out = out_arg

    def _along_one(self, tangent: np.ndarray) -> float:
        tangents = {**self.zeros, self.name: batching.readonly(tangent)}
        try:
            raw = self.op.jvp(**jvp_kwargs(self.op, self.views, tangents, self.out))
        except Exception as exc:  # noqa: BLE001 - any exception of the op's is reported
            hint = ("; jvp seems to write into its arguments, which the audit passes read-only"
                    if "read-only" in str(exc) else "")
            raise ContractError(
                f"jvp raised {type(exc).__name__}: {exc} with a basis tangent of input "
                f"{self.name!r}{hint}", contract.user_traceback(exc)) from None
        return _project(self.douts, output_tangents(raw, self.douts, self.outs, self.multi))

    def along(self, directions: np.ndarray) -> np.ndarray:
        return np.array([self._along_one(d.astype(self.dtype).reshape(self.shape))
                         for d in directions])

    def dense(self) -> np.ndarray:
        size = int(np.prod(self.shape))
        basis = np.zeros(size, dtype=self.dtype)
        result = np.empty(size)
        for i in range(size):
            basis[i] = 1
            result[i] = self._along_one(basis.reshape(self.shape))
            basis[i] = 0
        return result.reshape(self.shape)


def check(op: Op, values: dict[str, np.ndarray], douts: list[np.ndarray | None],
          outs: list[np.ndarray], multi: bool, out_arg: Any,
          grads: dict[str, np.ndarray] | None, checker: GradientChecker, mode: str,
          rng: np.random.Generator, result: VariantResult) -> None:
    """Append the ``jvp`` (and, with a backward, ``adjoint``) results of every
    differentiable input to ``result``; a JVP that is not linear fails the variant."""
    audit_progress.check("jvp")
    names = op.differentiable_inputs
    tangents = {n: rng.standard_normal(values[n].shape).astype(values[n].dtype) for n in names}
    zeros = {n: batching.readonly(np.zeros_like(values[n])) for n in names}
    first = _call(op, values, tangents, out_arg, douts, outs, multi)
    _check_linear(op, values, tangents, out_arg, douts, outs, multi, first, checker.eps, result)
    backward_ok = {i.name: i.status == "pass" for i in result.inputs if i.check == "backward"}
    for name in names:
        lazy = JvpGradient(op, values, name, zeros, douts, outs, multi, out_arg)
        if grads is None:
            item = checker.check(name, lazy, mode, rng)
        else:
            only = first if len(names) == 1 else _call(
                op, values, {**zeros, name: tangents[name]}, out_arg, douts, outs, multi)
            adjoint = _adjoint(name, values[name], tangents[name], grads[name], douts, only,
                               checker.eps, op.rtol)
            result.inputs.append(adjoint)
            if adjoint.status == "pass" and backward_ok.get(name):
                item = _verified_by_adjoint(adjoint)
            else:  # jvp or backward (or both) is wrong: which, finite differences tell
                item = checker.check(name, lazy, mode, rng)
        item.check = "jvp"
        result.inputs.append(item)


def _call(op: Op, values: Mapping[str, np.ndarray], tangents: Mapping[str, np.ndarray],
          out_arg: Any, douts: list[np.ndarray | None], outs: list[np.ndarray],
          multi: bool) -> list[np.ndarray | None]:
    """One jvp call under the contract: copies in, nothing modified, outputs checked."""
    given = {k: v.copy() for k, v in values.items()}
    given_t = {k: v.copy() for k, v in tangents.items()}
    out_copy = (tuple(o.copy() for o in out_arg) if isinstance(out_arg, tuple) else out_arg.copy())
    kwargs = jvp_kwargs(op, given, given_t, out_copy)
    raw = contract.call(op.jvp, "jvp", kwargs)  # type: ignore[arg-type]
    contract.check_unmodified("jvp", given, values)
    contract.check_unmodified("jvp", given_t, tangents)
    if "out" in kwargs:
        contract.check_unmodified("jvp", {"out": out_copy}, {"out": out_arg})
    return output_tangents(raw, douts, outs, multi)


def _check_linear(op: Op, values: dict[str, np.ndarray], tangents: dict[str, np.ndarray],
                  out_arg: Any, douts: list[np.ndarray | None], outs: list[np.ndarray],
                  multi: bool, first: list[np.ndarray | None], eps: float,
                  result: VariantResult) -> None:
    """A JVP is linear in its tangents; scaling by -1/2 is exact in floating point."""
    scaled = {k: v * -0.5 for k, v in tangents.items()}
    again = _call(op, values, scaled, out_arg, douts, outs, multi)
    for k, (a, b) in enumerate(zip(first, again)):
        if a is None or b is None:
            continue
        expected = a.astype(np.float64) * -0.5
        tol = 64 * max(eps, float(np.finfo(a.dtype).eps) if a.dtype.kind == "f" else 0.0)
        scale = float(np.max(np.abs(expected), initial=0.0))
        if float(np.max(np.abs(b.astype(np.float64) - expected), initial=0.0)) > tol * scale:
            if result.status == "pass":
                result.status = "fail"
                which = "" if not multi else f" (output {k})"
                result.message = (
                    f"jvp is not linear in its tangents{which}: jvp(-0.5 * tangents) is not "
                    "-0.5 * jvp(tangents); a Jacobian-vector product must scale with the "
                    "tangents (does jvp ignore them, or add a term that does not depend on them?)"
                )
            return


def adjoint_tolerance(eps: float, size: int, scale: float, rtol: float | None) -> float:
    """ADJOINT_FACTOR * eps * sqrt(size) of the two sides' scale (an op's own ``rtol``,
    if larger, loosens it)."""
    return max(ADJOINT_FACTOR * eps * math.sqrt(size), rtol or 0.0) * scale


def _adjoint(name: str, x: np.ndarray, u: np.ndarray, grad: np.ndarray,
             douts: list[np.ndarray | None], t: list[np.ndarray | None], eps: float,
             rtol: float | None) -> InputResult:
    """<jvp(u), dout> against <u, backward(dout)> for a tangent u on input ``name`` only."""
    lhs = _project(douts, t)
    u64, g64 = u.astype(np.float64).ravel(), grad.astype(np.float64).ravel()
    rhs = float(np.dot(u64, g64))
    size = u.size + sum(d.size for d in douts if d is not None)
    scale = (math.sqrt(sum(float(np.sum(np.square(d, dtype=np.float64))) for d in douts if d is not None))
             * math.sqrt(sum(float(np.sum(np.square(v, dtype=np.float64))) for v in t if v is not None))
             + float(np.linalg.norm(u64)) * float(np.linalg.norm(g64)))
    tol = adjoint_tolerance(eps, size, scale, rtol)
    diff = abs(lhs - rhs)
    rel = diff / max(1e-8, abs(lhs) + abs(rhs))
    ok = diff <= tol
    outcome = "pass" if ok else "fail"
    element = Element(index=(), analytic=rhs, numeric=lhs, abs_error=diff, rel_error=rel,
                      error_estimate=tol, outcome=outcome)
    return InputResult(
        name=name, shape=tuple(x.shape), dtype=x.dtype.name, status=outcome,
        counts={"pass": int(ok), "fail": int(not ok), "nondifferentiable": 0, "unreliable": 0},
        max_rel_error=rel, max_abs_error=diff, worst=element,
        mismatches=[] if ok else [element], rtol=tol / scale if scale else 0.0,
        max_error_estimate=tol, method="adjoint identity", check="adjoint",
    )


def _verified_by_adjoint(adjoint: InputResult) -> InputResult:
    """A JVP that agrees with a verified backward to rounding is verified too: the
    adjoint identity along a random tangent sees any difference between them."""
    return InputResult(
        name=adjoint.name, shape=adjoint.shape, dtype=adjoint.dtype, status="pass",
        counts={"pass": 1, "fail": 0, "nondifferentiable": 0, "unreliable": 0},
        max_rel_error=adjoint.max_rel_error, max_abs_error=adjoint.max_abs_error,
        worst=adjoint.worst, rtol=adjoint.rtol, max_error_estimate=adjoint.max_error_estimate,
        method="adjoint identity with the verified backward", check="jvp",
    )
