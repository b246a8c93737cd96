"""A gallery of ops written in JAX: the bugs people write in ``custom_vjp`` and
``custom_jvp`` rules, and correct ops that are hard to check. A plugin module
(``-p jax_ops`` from this folder); ``CASES`` says what the audit owes each op
(tests/test_frameworks_jax.py, benchmarks/frameworks.py).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

import opcheck
from opcheck import Op, Tensor


class Expect(NamedTuple):
    op: Op
    verdict: str  # the audit's status: "pass", "fail" or "error"
    why: str


def _float(*shape: str | int, dtype: str = "float64", **kw: float) -> Tensor:
    return Tensor(shape=shape, dtype=dtype, **kw)


# --- bugs ------------------------------------------------------------------------------

@jax.custom_vjp
def scaled_sin(x, y):
    return x * jnp.sin(y)


def _scaled_sin_fwd(x, y):
    return x * jnp.sin(y), (x, jnp.sin(y), jnp.cos(y))


def _scaled_sin_bwd(residuals, g):
    x, sin_y, _cos_y = residuals
    return g * sin_y, g * x  # Bug: ignores the residual cos_y (d/dy is x * cos(y))


scaled_sin.defvjp(_scaled_sin_fwd, _scaled_sin_bwd)


@jax.custom_jvp
def safe_norm(x):
    return jnp.sqrt(jnp.sum(x * x, axis=-1) + 1e-12)


@safe_norm.defjvp
def _safe_norm_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    n = safe_norm(x)
    return n, 2.0 * jnp.sum(x * t, axis=-1) / n  # Bug: factor 2 (from d(x.x), not d sqrt(x.x))


@jax.custom_vjp
def mean_rows(x):
    return jnp.mean(x, axis=0)


def _mean_rows_fwd(x):
    return jnp.mean(x, axis=0), x.shape


def _mean_rows_bwd(shape, g):
    return (jnp.broadcast_to(g, shape) / shape[1],)  # Bug: divides by D, not N


mean_rows.defvjp(_mean_rows_fwd, _mean_rows_bwd)


@jax.custom_vjp
def softmax_f32(x):
    return jax.nn.softmax(x, axis=-1)


def _softmax_fwd(x):
    y = jax.nn.softmax(x, axis=-1)
    return y, y


def _softmax_bwd(y, g):
    return (y * (g - jnp.sum(g, axis=-1, keepdims=True)),)  # Bug: sum(g), not sum(g * y)


softmax_f32.defvjp(_softmax_fwd, _softmax_bwd)


# --- correct but tricky ------------------------------------------------------------------

@jax.custom_jvp
def logsumexp_f32(x):
    m = jnp.max(x, axis=-1, keepdims=True)
    return (m + jnp.log(jnp.sum(jnp.exp(x - m), axis=-1, keepdims=True)))[..., 0]


@logsumexp_f32.defjvp
def _logsumexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    out = logsumexp_f32(x)
    return out, jnp.sum(jax.nn.softmax(x, axis=-1) * t, axis=-1)


@jax.custom_vjp
def take_rows(table, index):
    return table[index] * 2.0


def _take_fwd(table, index):
    return table[index] * 2.0, (table.shape, index)


def _take_bwd(residuals, g):
    shape, index = residuals
    grad = jnp.zeros(shape, g.dtype).at[index].add(2.0 * g)  # repeated rows accumulate
    return grad, None


take_rows.defvjp(_take_fwd, _take_bwd)


def _max_and_argmax(x):
    return jnp.max(x, axis=-1), jnp.argmax(x, axis=-1)  # an integer output beside a float one


def _gelu_f32(x, w):
    return jax.nn.gelu(x @ w, approximate=True)


def _ops() -> list[Expect]:
    return [
        Expect(opcheck.from_jax("jax.custom_vjp_ignores_residual", scaled_sin,
                                inputs={"x": _float("N"), "y": _float("N")}),
               "fail", "custom_vjp bwd ignores the residual cos(y)"),
        Expect(opcheck.from_jax("jax.custom_jvp_wrong_factor", safe_norm,
                                inputs={"x": _float("N", "D")}),
               "fail", "custom_jvp tangent off by a factor 2 (its VJP, by transposition, too)"),
        Expect(opcheck.from_jax("jax.mean_rows_wrong_count", mean_rows,
                                inputs={"x": _float("N", "D")}),
               "fail", "custom_vjp divides by D instead of N: right whenever the input is square"),
        Expect(opcheck.from_jax("jax.softmax_f32_wrong_sum", softmax_f32,
                                inputs={"x": _float("N", "C", dtype="float32")}),
               "fail", "float32 softmax bwd sums g instead of g * y"),
        Expect(opcheck.from_jax("jax.logsumexp_f32", logsumexp_f32,
                                inputs={"x": _float("N", "C", dtype="float32", low=-30, high=30)}),
               "pass", "custom_jvp logsumexp in float32, logits up to 30"),
        Expect(opcheck.from_jax("jax.take_rows", take_rows,
                                inputs={"table": _float("V", "D"),
                                        "index": Tensor(shape=("N",), dtype="int64", low=0, high=1)}),
               "pass", "custom_vjp with an integer input (repeated indices accumulate)"),
        Expect(opcheck.from_jax("jax.max_and_argmax", _max_and_argmax,
                                inputs={"x": _float("N", "D")}),
               "pass", "a float output beside an integer one"),
        Expect(opcheck.from_jax("jax.gelu_f32", _gelu_f32,
                                inputs={"x": _float("N", "D", dtype="float32"),
                                        "w": _float("D", "M", dtype="float32")}),
               "pass", "float32 GELU of a matmul through JAX's own rules"),
    ]


CASES = _ops()


@opcheck.hookimpl
def opcheck_ops():
    return [case.op for case in CASES]
