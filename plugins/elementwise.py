"""Elementwise activations and math functions, each with its derivative written by hand.

Every unary op is built by one factory from ``f`` and ``f'`` (given the input and the
output, so derivatives reuse the forward value where a library would). Kinks: ``relu``,
``leaky_relu`` and ``abs`` take the one-sided derivative of the positive side for x > 0 and
of the negative side for x <= 0, so ``relu'(0) = 0``, ``leaky_relu'(0) = 0.01`` and
``abs'(0) = sign(0) = 0``. Sampled floats essentially never land on 0, so the audit checks
the smooth pieces. Domains are declared honestly: ``log`` and ``sqrt`` take x in
[0.5, 2], ``pow`` a base in [0.5, 2]. Constants are Python floats so float32 twins stay
float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

import opcheck

from ._twins import float32_twin

Array = np.ndarray

_DIMS = {"N": 4, "D": 5}
LEAKY_SLOPE = 0.01
ELU_ALPHA = 1.0
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715


def unary_op(
    name: str,
    description: str,
    forward: Callable[[Array], Array],
    derivative: Callable[[Array, Array], Array],
    *,
    low: float = -1.0,
    high: float = 1.0,
    second: Callable[[Array, Array], Array] | None = None,
) -> opcheck.Op:
    """An elementwise op y = f(x) on an (N, D) input; ``derivative(x, y)`` is f'(x) and
    ``second(x, y)``, where given, f''(x) (then the op declares a ``double_backward``)."""

    def backward(dout: Array, x: Array, out: Array) -> dict[str, Array]:
        return {"x": dout * derivative(x, out)}

    def jvp(x: Array, tangents: dict[str, Array], out: Array) -> Array:
        return tangents["x"] * derivative(x, out)

    rules = {"backward": backward, "jvp": jvp}
    if second is not None:
        def double_backward(ggrads: dict[str, Array], dout: Array, x: Array) -> dict[str, Array]:
            # backward is dout * f'(x): its VJP is gg * dout * f''(x) for x, gg * f'(x) for dout
            out = forward(x)
            gg = ggrads["x"]
            return {"x": gg * dout * second(x, out), "dout": gg * derivative(x, out)}

        rules["double_backward"] = double_backward
    for role, fn in rules.items():
        fn.__name__ = fn.__qualname__ = f"{forward.__name__}_{role}"
    return opcheck.Op(
        name=name,
        description=description,
        forward=forward,
        inputs={"x": opcheck.Tensor(shape=("N", "D"), low=low, high=high)},
        dims=_DIMS,
        **rules,
    )


def relu(x: Array) -> Array:
    return np.maximum(x, 0.0)


def relu_grad(x: Array, out: Array) -> Array:
    return (x > 0).astype(x.dtype)


def leaky_relu(x: Array) -> Array:
    return np.where(x > 0, x, LEAKY_SLOPE * x)


def leaky_relu_grad(x: Array, out: Array) -> Array:
    return np.where(x > 0, 1.0, LEAKY_SLOPE).astype(x.dtype)


def elu(x: Array) -> Array:
    # expm1 of min(x, 0): accurate near 0 and never overflows on the unused branch
    return np.where(x > 0, x, ELU_ALPHA * np.expm1(np.minimum(x, 0.0)))


def elu_grad(x: Array, out: Array) -> Array:
    return np.where(x > 0, 1.0, out + ELU_ALPHA).astype(x.dtype)


def gelu(x: Array) -> Array:
    return 0.5 * x * (1.0 + np.tanh(_GELU_C * (x + _GELU_K * x**3)))


def gelu_grad(x: Array, out: Array) -> Array:
    t = np.tanh(_GELU_C * (x + _GELU_K * x**3))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * _GELU_C * (1.0 + 3.0 * _GELU_K * x**2)


def sigmoid(x: Array) -> Array:
    # the same function as 1 / (1 + exp(-x)), without overflow for large negative x
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def sigmoid_grad(x: Array, out: Array) -> Array:
    return out * (1.0 - out)


def sigmoid_second(x: Array, out: Array) -> Array:
    return out * (1.0 - out) * (1.0 - 2.0 * out)


def tanh(x: Array) -> Array:
    return np.tanh(x)


def tanh_grad(x: Array, out: Array) -> Array:
    return 1.0 - out**2


def tanh_second(x: Array, out: Array) -> Array:
    return -2.0 * out * (1.0 - out**2)


def exp(x: Array) -> Array:
    return np.exp(x)


def exp_grad(x: Array, out: Array) -> Array:
    return out


def log(x: Array) -> Array:
    return np.log(x)


def log_grad(x: Array, out: Array) -> Array:
    return 1.0 / x


def sqrt(x: Array) -> Array:
    return np.sqrt(x)


def sqrt_grad(x: Array, out: Array) -> Array:
    return 0.5 / out


def abs_(x: Array) -> Array:
    return np.abs(x)


def abs_grad(x: Array, out: Array) -> Array:
    return np.sign(x)


def pow_forward(x: Array, y: Array) -> Array:
    return x**y


def pow_backward(dout: Array, x: Array, y: Array, out: Array) -> dict[str, Array]:
    # d(x^y)/dx = y x^(y-1); d(x^y)/dy = x^y log x, defined because the base is positive
    return {"x": dout * y * x ** (y - 1.0), "y": dout * out * np.log(x)}


def pow_jvp(x: Array, y: Array, tangents: dict[str, Array], out: Array) -> Array:
    return tangents["x"] * y * x ** (y - 1.0) + tangents["y"] * out * np.log(x)


@opcheck.hookimpl
def opcheck_ops() -> list[opcheck.Op]:
    ops = [
        unary_op("relu", "y = max(x, 0)", relu, relu_grad),
        unary_op("leaky_relu", f"y = x if x > 0 else {LEAKY_SLOPE} x", leaky_relu, leaky_relu_grad),
        unary_op("elu", "y = x if x > 0 else exp(x) - 1", elu, elu_grad),
        unary_op(
            "gelu",
            "y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (tanh approximation)",
            gelu,
            gelu_grad,
        ),
        unary_op("sigmoid", "y = 1 / (1 + exp(-x))", sigmoid, sigmoid_grad, second=sigmoid_second),
        unary_op("tanh", "y = tanh(x)", tanh, tanh_grad, second=tanh_second),
        unary_op("exp", "y = exp(x)", exp, exp_grad, low=-2.0, high=2.0, second=exp_grad),
        unary_op("log", "y = log(x), x > 0", log, log_grad, low=0.5, high=2.0),
        unary_op("sqrt", "y = sqrt(x), x > 0", sqrt, sqrt_grad, low=0.5, high=2.0),
        unary_op("abs", "y = abs(x)", abs_, abs_grad),
        opcheck.Op(
            name="pow",
            description="z = x ** y elementwise, base x > 0",
            forward=pow_forward,
            backward=pow_backward,
            jvp=pow_jvp,
            inputs={
                "x": opcheck.Tensor(shape=("N", "D"), low=0.5, high=2.0),
                "y": opcheck.Tensor(shape=("N", "D"), low=-2.0, high=2.0),
            },
            dims=_DIMS,
        ),
    ]
    twins = {"relu", "sigmoid", "tanh", "gelu"}
    return ops + [float32_twin(op) for op in ops if op.name in twins]
