"""Complex-valued ops, with torch's convention (docs/method.md, "Complex dtypes").

For a real loss L the gradient of a complex z is dL/dRe(z) + i dL/dIm(z); a complex output
y enters L as Re(conj(dout) y). For a holomorphic f (multiply, exp, matmul) that makes the
backward ``dout * conj(f'(z))`` — the conjugate is the classic thing to forget — and for
the real-valued |z|^2 it is ``2 dout z``.
"""

from __future__ import annotations

import numpy as np

import opcheck

Array = np.ndarray


def cmul_forward(z: Array, w: Array) -> Array:
    return z * w


def cmul_backward(dout: Array, z: Array, w: Array) -> dict[str, Array]:
    return {"z": dout * np.conj(w), "w": dout * np.conj(z)}


def cmul_jvp(z: Array, w: Array, tangents: dict[str, Array]) -> Array:
    return tangents["z"] * w + z * tangents["w"]


def abs2_forward(z: Array) -> Array:
    return z.real**2 + z.imag**2


def abs2_backward(dout: Array, z: Array) -> dict[str, Array]:
    # L = dout (x^2 + y^2): dL/dx + i dL/dy = 2 dout (x + i y)
    return {"z": 2 * dout * z}


def abs2_jvp(z: Array, tangents: dict[str, Array]) -> Array:
    return 2 * (np.conj(z) * tangents["z"]).real


def cexp_forward(z: Array) -> Array:
    return np.exp(z)


def cexp_backward(dout: Array, z: Array, out: Array) -> dict[str, Array]:
    return {"z": dout * np.conj(out)}


def cexp_jvp(z: Array, tangents: dict[str, Array], out: Array) -> Array:
    return tangents["z"] * out


def cmatmul_forward(x: Array, w: Array) -> Array:
    return x @ w


def cmatmul_backward(dout: Array, x: Array, w: Array) -> dict[str, Array]:
    return {"x": dout @ w.conj().T, "w": x.conj().T @ dout}


def cmatmul_jvp(x: Array, w: Array, tangents: dict[str, Array]) -> Array:
    return tangents["x"] @ w + x @ tangents["w"]


def _c(shape: tuple[str | int, ...], dtype: str = "complex128") -> opcheck.Tensor:
    return opcheck.Tensor(shape=shape, dtype=dtype)


@opcheck.hookimpl
def opcheck_ops() -> list[opcheck.Op]:
    ops = [
        opcheck.Op(name="complex.multiply", description="y = z w (complex)",
                   forward=cmul_forward, backward=cmul_backward, jvp=cmul_jvp,
                   inputs={"z": _c(("N", "D")), "w": _c(("N", "D"))}, dims={"N": 3, "D": 4}),
        opcheck.Op(name="complex.abs2", description="y = |z|^2 = Re(z)^2 + Im(z)^2 (real output)",
                   forward=abs2_forward, backward=abs2_backward, jvp=abs2_jvp,
                   inputs={"z": _c(("N", "D"))}, dims={"N": 3, "D": 4}),
        opcheck.Op(name="complex.exp", description="y = exp(z) (complex)",
                   forward=cexp_forward, backward=cexp_backward, jvp=cexp_jvp,
                   inputs={"z": _c(("N", "D"))}, dims={"N": 3, "D": 4}),
        opcheck.Op(name="complex.matmul", description="D = X W (complex)",
                   forward=cmatmul_forward, backward=cmatmul_backward, jvp=cmatmul_jvp,
                   inputs={"x": _c(("N", "D")), "w": _c(("D", "M"))}, dims={"N": 3, "D": 4, "M": 5}),
    ]
    single = opcheck.Op(**{**dict(ops[0]), "name": "complex.multiply.complex64",
                           "inputs": {"z": _c(("N", "D"), "complex64"), "w": _c(("N", "D"), "complex64")}})
    return ops + [single]
