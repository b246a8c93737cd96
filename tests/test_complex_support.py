"""Complex inputs and outputs (CONTRACT.md §7): torch's convention, real and imaginary
parts differenced separately, clear errors for mixed real/complex mistakes."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest

import opcheck
from opcheck.complex_support import to_complex, to_real

T = opcheck.Tensor
DTYPES = ["complex128", "complex64"]


def _cmul_op(dtype, backward=None, jvp=None):
    return opcheck.Op(
        name="cmul", forward=lambda z, w: z * w,
        backward=backward or (lambda dout, z, w: {"z": dout * np.conj(w), "w": dout * np.conj(z)}),
        jvp=jvp, inputs={"z": T(shape=("N",), dtype=dtype), "w": T(shape=("N",), dtype=dtype)})


def _abs2_op(dtype, backward):
    return opcheck.Op(name="abs2", forward=lambda z: (z * np.conj(z)).real, backward=backward,
                      inputs={"z": T(shape=("N", "M"), dtype=dtype)})


def test_pairs_round_trip():
    z = np.array([1 + 2j, -3.5j], dtype=np.complex64)
    pairs = to_real(z)
    assert pairs.dtype == np.float32 and pairs.tolist() == [[1, 2], [0, -3.5]]
    assert np.array_equal(to_complex(pairs, "complex64"), z)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["full", "fast"])
def test_correct_complex_ops_pass(dtype, mode):
    jvp = lambda z, w, tangents: tangents["z"] * w + z * tangents["w"]
    assert opcheck.audit(_cmul_op(dtype, jvp=jvp), mode=mode).status == "pass"
    assert opcheck.audit(_abs2_op(dtype, lambda dout, z: {"z": 2 * dout * z}), mode=mode).status == "pass"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["full", "fast"])
def test_the_missing_conjugate_is_caught(dtype, mode):
    wrong = lambda dout, z, w: {"z": dout * w, "w": dout * z}
    report = opcheck.audit(_cmul_op(dtype, backward=wrong), mode=mode)
    assert report.status == "fail"


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_bug_only_in_the_imaginary_part_is_caught_there(mode):
    report = opcheck.audit(_abs2_op("complex128", lambda dout, z: {"z": 2 * dout * np.conj(z)}),
                           mode=mode, variant="default")
    item = report.variants[0].inputs[0]
    assert report.status == "fail" and item.dtype == "complex128"
    # Real parts agree; every imaginary part (last index 1) has the wrong sign.
    assert {e.index[-1] for e in item.mismatches} == {1}
    assert item.counts["fail"] == item.size // 2
    assert any("0 for its real part, 1 for its imaginary part" in n for n in item.notes)


def test_a_real_gradient_for_a_complex_input_is_an_error():
    report = opcheck.audit(_abs2_op("complex128", lambda dout, z: {"z": 2 * dout * z.real}),
                           variant="default")
    assert report.status == "error"
    assert "backward returned a real gradient (float64) for complex input 'z'" in report.message
    assert "dL/dRe + i·dL/dIm" in report.message


def test_a_complex_gradient_for_a_real_input_is_an_error():
    op = opcheck.Op(name="scale", forward=lambda z, s: z * s,
                    backward=lambda dout, z, s: {"z": dout * s, "s": np.sum(dout * np.conj(z))},
                    inputs={"z": T(shape=(3,), dtype="complex128"), "s": T(shape=())})
    report = opcheck.audit(op, variant="default")
    assert report.status == "error"
    assert "complex gradient (complex128) for real input 's'" in report.message
    fixed = opcheck.Op(name="scale", forward=lambda z, s: z * s,
                       backward=lambda dout, z, s: {"z": dout * s, "s": np.sum(dout * np.conj(z)).real},
                       inputs={"z": T(shape=(3,), dtype="complex128"), "s": T(shape=())})
    assert opcheck.audit(fixed).status == "pass"


def test_real_inputs_with_a_complex_output():
    op = opcheck.Op(name="expi", forward=lambda x: np.exp(1j * x),
                    backward=lambda dout, x: {"x": np.real(np.conj(dout) * 1j * np.exp(1j * x))},
                    inputs={"x": T(shape=("N",))})
    assert opcheck.audit(op).status == "pass"
    wrong = op.model_copy(update={"backward": lambda dout, x: {"x": np.real(dout * 1j * np.exp(1j * x))}})
    assert opcheck.audit(wrong).status == "fail"


def test_given_complex_inputs():
    z = np.array([1 + 1j, 2 - 1j, 0.5j])
    report = opcheck.audit(_abs2_op("complex128", lambda dout, z: {"z": 2 * dout * z}),
                           inputs={"z": z.reshape(3, 1)})
    assert report.status == "pass"


def test_complex256_is_refused():
    with pytest.raises(pydantic.ValidationError, match="complex256"):
        T(shape=(2,), dtype="complex256")


@pytest.mark.parametrize("dtype", DTYPES)
def test_complex_second_order_and_jvp(dtype):
    # z^2: backward dout conj(2z); its VJP (torch's convention) is 2 conj(gg) dout for z
    # and 2 gg z for dout.
    op = opcheck.Op(
        name="square", forward=lambda z: z * z, jvp=lambda z, tangents: 2 * z * tangents["z"],
        backward=lambda dout, z: {"z": dout * np.conj(2 * z)},
        double_backward=lambda ggrads, dout, z: {"z": 2 * np.conj(ggrads["z"]) * dout,
                                                 "dout": 2 * ggrads["z"] * z},
        inputs={"z": T(shape=("N",), dtype=dtype)})
    report = opcheck.audit(op)
    assert report.status == "pass", report
    assert {i.check for v in report.variants for i in v.inputs} == {
        "backward", "jvp", "adjoint", "double_backward"}
    wrong = op.model_copy(update={"double_backward": lambda ggrads, dout, z: {
        "z": 2 * ggrads["z"] * dout, "dout": 2 * ggrads["z"] * z}})
    failing = {(i.check, i.name) for v in opcheck.audit(wrong).variants for i in v.inputs
               if i.status == "fail"}
    assert failing == {("double_backward", "z")}
