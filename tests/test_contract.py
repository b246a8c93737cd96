"""The op contract as ``opcheck.audit`` enforces it (opcheck.contract and its callers).

Every way an op can break its contract is status ``error`` with a message that names the
function (forward/backward) and the argument or input concerned; a wrong gradient is
``fail``; everything the contract allows passes.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import opcheck
from opcheck import Op, Tensor

OPCHECK_DIR = os.path.dirname(os.path.abspath(opcheck.__file__))

X = {"x": Tensor(shape=("N", "D"))}
XW = {"x": Tensor(shape=("N", "D")), "w": Tensor(shape=("D", "M"))}


def mm_forward(x, w):
    return x @ w


def mm_backward(dout, x, w):
    return {"x": dout @ w.T, "w": x.T @ dout}


def matmul_op(**overrides) -> Op:
    fields = {
        "name": "t.matmul",
        "forward": mm_forward,
        "backward": mm_backward,
        "inputs": XW,
        "dims": {"N": 3, "D": 2, "M": 4},
    }
    fields.update(overrides)
    return Op(**fields)


def square_op(**overrides) -> Op:
    fields = {
        "name": "t.square",
        "forward": lambda x: x * x,
        "backward": lambda dout, x: {"x": 2.0 * x * dout},
        "inputs": X,
    }
    fields.update(overrides)
    return Op(**fields)


def forward_raises(x):
    raise ValueError("kaboom from the op")


def forward_mutates(x):
    x *= 2.0
    return x + 0.0


def forward_mutates_w(x, w):
    w[...] = 0.0
    return x @ w


def backward_mutates_dout(dout, x):
    dout *= 2.0
    return {"x": dout * x}


def backward_mutates_out(dout, out, x):
    out += 1.0
    return {"x": 2.0 * x * dout}


def forward_random(x):
    return x + np.random.uniform(size=x.shape)


# One row per contract violation: the op, then the words the error message must contain.
ERROR_CASES = [
    pytest.param(
        square_op(forward=forward_raises),
        ["forward raised ValueError", "kaboom from the op"],
        id="forward-raises",
    ),
    pytest.param(
        square_op(forward=lambda x: [1.0, 2.0]),
        ["forward returned", "list", "np.asarray"],
        id="forward-returns-a-list",
    ),
    pytest.param(
        square_op(forward=lambda x: None),
        ["forward returned its output as None", "np.asarray"],
        id="forward-returns-none",
    ),
    pytest.param(
        square_op(forward=lambda x: ()),
        ["forward returned an empty tuple"],
        id="forward-returns-empty-tuple",
    ),
    pytest.param(
        square_op(forward=lambda x: x * np.nan),
        ["forward's output", "nan", "index"],
        id="forward-returns-nan",
    ),
    pytest.param(
        square_op(forward=lambda x: x + np.inf),
        ["forward's output", "inf"],
        id="forward-returns-inf",
    ),
    pytest.param(
        # A complex output is audited (CONTRACT.md §7): dout is then complex, and a
        # backward that passes its complex product on for a real input is refused.
        square_op(forward=lambda x: x.astype(np.complex128)),
        ["backward returned a complex gradient (complex128) for real input 'x'"],
        id="forward-returns-complex",
    ),
    pytest.param(
        square_op(backward=lambda dout, x: (2.0 * x * dout, 0.0)),
        ["backward returned a tuple of 2 gradients", "expected 1"],
        id="backward-tuple-too-long",
    ),
    pytest.param(
        matmul_op(backward=lambda dout, x, w: (dout @ w.T,)),
        ["backward returned a tuple of 1 gradient;", "expected 2", "['x', 'w']"],
        id="backward-tuple-too-short",
    ),
    pytest.param(
        matmul_op(backward=lambda dout, x, w: {**mm_backward(dout, x, w), "z": dout}),
        ["backward returned gradients for ['z']", "not inputs"],
        id="backward-unknown-key",
    ),
    pytest.param(
        matmul_op(backward=lambda dout, x, w: {"x": dout @ w.T}),
        ["backward returned no gradient", "'w'"],
        id="backward-missing-gradient",
    ),
    pytest.param(
        matmul_op(backward=lambda dout, x, w: (dout @ w.T, None)),
        ["backward returned no gradient", "'w'"],
        id="backward-none-for-differentiable",
    ),
    pytest.param(
        matmul_op(backward=lambda dout, x, w: {"x": dout @ w.T, "w": None}),
        ["backward returned no gradient", "'w'"],
        id="backward-dict-none-for-differentiable",
    ),
    pytest.param(
        matmul_op(backward=lambda dout, x, w: {"x": dout @ w.T, "w": (x.T @ dout).T}),
        ["backward returned a gradient of shape (4, 2)", "input 'w' of shape (2, 4)"],
        id="backward-wrong-shape",
    ),
    pytest.param(
        matmul_op(backward=lambda dout, x, w: {"x": dout @ w.T, "w": (x.T @ dout).sum()}),
        ["backward", "shape ()", "'w'"],
        id="backward-scalar-for-matrix",
    ),
    pytest.param(
        matmul_op(backward=lambda dout, x, w: {"x": (dout @ w.T) * np.nan, "w": x.T @ dout}),
        ["backward returned nan", "gradient of 'x'"],
        id="backward-nan-gradient",
    ),
    pytest.param(
        square_op(backward=lambda dout, x: [2.0 * x * dout]),
        ["backward returned a list", "expected a dict"],
        id="backward-returns-a-list",
    ),
    pytest.param(
        square_op(backward=lambda dout, x: {"x": "oops"}),
        ["backward returned the gradient of 'x'", "str"],
        id="backward-gradient-not-an-array",
    ),
    pytest.param(
        square_op(backward=lambda dout, x: 1 / 0),
        ["backward raised ZeroDivisionError"],
        id="backward-raises",
    ),
    pytest.param(
        square_op(forward=forward_mutates, backward=lambda dout, x: {"x": 2.0 * dout}),
        ["forward mutated its input 'x'"],
        id="forward-mutates-x",
    ),
    pytest.param(
        matmul_op(forward=forward_mutates_w),
        ["forward mutated its input 'w'"],
        id="forward-mutates-second-input",
    ),
    pytest.param(
        square_op(backward=backward_mutates_dout),
        ["backward mutated its argument 'dout'"],
        id="backward-mutates-dout",
    ),
    pytest.param(
        square_op(backward=backward_mutates_out),
        ["backward mutated its argument 'out'"],
        id="backward-mutates-out",
    ),
    pytest.param(
        square_op(forward=forward_random, backward=lambda dout, x: {"x": dout}),
        ["forward is nondeterministic"],
        id="forward-uses-global-random-state",
    ),
    pytest.param(
        square_op(forward=lambda x: (x > 0).astype(np.int64), backward=lambda dout, x: {}),
        ["forward has no floating-point output"],
        id="forward-integer-output-only",
    ),
]


@pytest.mark.parametrize("op, words", ERROR_CASES)
def test_contract_violation_is_an_error(op, words):
    report = opcheck.audit(op)
    assert report.status == "error"
    assert not report.ok
    for word in words:
        assert word in report.message
    variant = report.failing_variant()
    assert variant is not None and variant.status == "error"
    # An Op object audited from Python has no plugin the CLI could load: Python form.
    assert report.reproduce.startswith(f"opcheck.audit(op, seed=0, variant={variant.label!r})")


def test_forward_raising_keeps_only_the_ops_own_frames():
    report = opcheck.audit(square_op(forward=forward_raises))
    tb = report.failing_variant().traceback
    assert tb.startswith("Traceback (most recent call last):")
    assert f'"{os.path.abspath(__file__)}"' in tb
    assert "in forward_raises" in tb
    assert "ValueError: kaboom from the op" in tb
    assert OPCHECK_DIR not in tb
    assert "kaboom from the op" in str(report)  # the text report shows it too


def test_forward_that_works_once_then_breaks_is_an_error():
    calls = []

    def flaky(x):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("second call fails")
        return x * x

    report = opcheck.audit(square_op(forward=flaky), variant="default")
    assert report.status == "error"
    assert "second call fails" in report.message


# --- what the contract allows ----------------------------------------------------------


def test_correct_op_passes():
    report = opcheck.audit(matmul_op())
    assert report.status == "pass"
    assert report.message == ""
    assert report.max_rel_error is not None and report.max_rel_error < 1e-7


def test_gradients_as_a_tuple_in_input_order():
    op = matmul_op(backward=lambda dout, x, w: (dout @ w.T, x.T @ dout))
    assert opcheck.audit(op).status == "pass"


def test_gradient_dtype_differing_from_input_is_a_warning_not_an_error():
    op = square_op(backward=lambda dout, x: {"x": (2.0 * x * dout).astype(np.float32)})
    report = opcheck.audit(op, variant="default")
    assert report.status == "pass"
    assert any("float32" in w and "'x'" in w for w in report.warnings)
    assert "warning:" in str(report)


def _int_op(backward):
    return Op(
        name="t.scale_by_int",
        forward=lambda x, k: x * k,
        backward=backward,
        inputs={"x": Tensor(shape=("N",)), "k": Tensor(shape=("N",), dtype="int64", low=1, high=5)},
    )


@pytest.mark.parametrize(
    "backward",
    [
        pytest.param(lambda dout, x, k: {"x": dout * k}, id="omitted-from-dict"),
        pytest.param(lambda dout, x, k: (dout * k, None), id="none-in-tuple"),
        pytest.param(lambda dout, x, k: {"x": dout * k, "k": None}, id="none-in-dict"),
    ],
)
def test_non_differentiable_integer_input_may_be_omitted(backward):
    report = opcheck.audit(_int_op(backward))
    assert report.status == "pass"
    compared = {item.name for v in report.variants for item in v.inputs}
    assert compared == {"x"}


def test_gradient_for_non_differentiable_input_is_ignored_with_a_warning():
    report = opcheck.audit(_int_op(lambda dout, x, k: {"x": dout * k, "k": np.zeros(k.shape)}))
    assert report.status == "pass"
    assert any("'k'" in w for w in report.warnings)


def test_inputs_arrive_as_arrays_of_the_declared_dtype():
    seen = []

    def forward(x, b, k):
        seen.append((type(x), x.dtype, type(b), b.ndim, b.dtype, k.dtype))
        return x * b * k

    op = Op(
        name="t.types",
        forward=forward,
        backward=lambda dout, x, b, k: {"x": dout * b * k, "b": np.sum(dout * x * k)},
        inputs={
            "x": Tensor(shape=(3,), dtype="float32"),
            "b": Tensor(shape=()),
            "k": Tensor(shape=(3,), dtype="int32", low=1, high=3),
        },
        rtol=1e-2,
    )
    opcheck.audit(op)
    assert seen
    assert set(seen) == {
        (np.ndarray, np.dtype("float32"), np.ndarray, 0, np.dtype("float64"), np.dtype("int32"))
    }


def test_several_outputs_as_a_tuple():
    douts = []

    def backward(dout, x):
        douts.append(dout)
        d_twice, d_square = dout
        return {"x": 2.0 * d_twice + 2.0 * x * d_square}

    op = square_op(forward=lambda x: (2.0 * x, x * x), backward=backward)
    assert opcheck.audit(op).status == "pass"
    assert all(isinstance(d, tuple) and len(d) == 2 for d in douts)


def test_integer_output_gets_dout_none():
    douts = []

    def backward(dout, x):
        douts.append(dout)
        return {"x": 2.0 * x * dout[0]}

    op = square_op(forward=lambda x: (x * x, np.argmax(x, axis=1)), backward=backward)
    report = opcheck.audit(op)
    assert report.status == "pass"
    assert douts and all(d[1] is None and d[0] is not None for d in douts)


def test_backward_receives_out_when_it_asks():
    outs = []

    def backward(dout, out, x):
        outs.append(out)
        return {"x": 2.0 * x * dout}

    assert opcheck.audit(square_op(backward=backward)).status == "pass"
    assert outs and all(isinstance(o, np.ndarray) for o in outs)


@pytest.mark.parametrize(
    "forward",
    [
        pytest.param(lambda x: float(np.sum(x * x)), id="python-float"),
        pytest.param(lambda x: np.sum(x * x), id="numpy-scalar"),
    ],
)
def test_scalar_output(forward):
    op = square_op(forward=forward, backward=lambda dout, x: {"x": 2.0 * x * dout})
    assert opcheck.audit(op).status == "pass"


def test_forward_may_return_its_input_or_a_view():
    op = square_op(forward=lambda x: x.T, backward=lambda dout, x: {"x": dout.T})
    assert opcheck.audit(op).status == "pass"


def test_forward_may_return_a_read_only_array():
    def forward(x):
        out = x * x
        out.flags.writeable = False
        return out

    assert opcheck.audit(square_op(forward=forward)).status == "pass"


# --- fail: a wrong gradient ------------------------------------------------------------


def test_backward_ignoring_dout_fails_as_not_linear():
    op = square_op(forward=lambda x: np.sum(x * x), backward=lambda dout, x: {"x": 2.0 * x})
    report = opcheck.audit(op)
    assert report.status == "fail"
    assert "linear" in report.message
    assert "dout" in report.message


def test_wrong_gradient_fails_naming_the_input():
    op = matmul_op(backward=lambda dout, x, w: {"x": dout @ w.T, "w": -(x.T @ dout)})
    report = opcheck.audit(op)
    assert report.status == "fail"
    assert "input 'w'" in report.message
    variant = report.failing_variant()
    [failed] = [i for i in variant.inputs if i.status == "fail"]
    assert failed.name == "w"
    assert failed.worst.analytic == pytest.approx(-failed.worst.numeric, rel=1e-6)
    assert "Mismatched elements" in str(report)


# --- inputs= ---------------------------------------------------------------------------


def test_audit_never_mutates_the_callers_arrays():
    rng = np.random.default_rng(7)
    x, w = rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, (3, 4))
    x0, w0 = x.copy(), w.copy()
    report = opcheck.audit(matmul_op(), inputs={"x": x, "w": w})
    assert report.status == "pass"
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)
    assert x.flags.writeable and w.flags.writeable


def test_audit_with_a_mutating_forward_still_leaves_the_callers_arrays_alone():
    x = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    x0 = x.copy()
    report = opcheck.audit(square_op(forward=forward_mutates), inputs={"x": x})
    assert report.status == "error"
    np.testing.assert_array_equal(x, x0)


def test_given_inputs_fix_the_dims_and_the_values():
    seen = []

    def forward(x, w):
        seen.append(x.copy())
        return x @ w

    x = np.arange(10.0).reshape(5, 2) / 10
    report = opcheck.audit(matmul_op(forward=forward), inputs={"x": x})
    assert [v.dims for v in report.variants] == [{"N": 5, "D": 2, "M": 4}]
    np.testing.assert_array_equal(seen[0], x)


def test_read_only_given_inputs_are_accepted():
    x = np.ones((2, 2))
    x.flags.writeable = False
    assert opcheck.audit(matmul_op(), inputs={"x": x}).status == "pass"


BAD_INPUTS = [
    pytest.param(
        {"x": np.ones((3, 2), dtype=np.float32)},
        ["'x'", "expected dtype float64", "got float32"],
        id="wrong-dtype",
    ),
    pytest.param({"x": np.ones((3, 2, 1))}, ["'x'", "('N', 'D')", "(3, 2, 1)"], id="wrong-rank"),
    pytest.param(
        {"x": np.ones((3, 2)), "w": np.ones((5, 4))},
        ["'w'", "'D'", "5", "2", "'x'"],
        id="conflicting-symbolic-dim",
    ),
    pytest.param({"k": np.ones(3)}, ["'k'", "size 2", "(3,)"], id="wrong-fixed-size"),
    pytest.param({"z": np.ones(3)}, ["'z'", "['x', 'w', 'k']"], id="unknown-input"),
    pytest.param({"x": np.array([[1.0, np.nan], [0.0, 1.0], [2.0, 3.0]])},
                 ["'x'", "nan", "(0, 1)", "finite"], id="nan-input"),
    pytest.param({"k": np.array([np.inf, 1.0])}, ["'k'", "inf", "(0,)"], id="inf-input"),
    pytest.param([np.ones((3, 2))], ["must map input names", "list"], id="not-a-mapping"),
]


@pytest.mark.parametrize("given, words", BAD_INPUTS)
def test_inputs_that_do_not_match_the_schema(given, words):
    op = Op(
        name="t.fixed",
        forward=lambda x, w, k: x @ w,
        backward=lambda dout, x, w, k: {"x": dout @ w.T, "w": x.T @ dout, "k": np.zeros(2)},
        inputs={**XW, "k": Tensor(shape=(2,))},
    )
    with pytest.raises(opcheck.InputError) as info:
        opcheck.audit(op, inputs=given)
    for word in words:
        assert word in str(info.value)


# --- op names, modes, seeds ------------------------------------------------------------


def test_unknown_op_name_suggests_a_close_one():
    with pytest.raises(opcheck.UsageError, match="'matmull'.*did you mean matmul"):
        opcheck.audit("matmull")


def test_unknown_op_name_without_a_close_match_points_to_list():
    with pytest.raises(opcheck.UsageError, match="opcheck list"):
        opcheck.audit("zzzz-nothing-like-it")


def test_unknown_mode_is_a_usage_error():
    with pytest.raises(opcheck.UsageError, match="mode="):
        opcheck.audit(square_op(), mode="thorough")


def test_unknown_variant_is_a_usage_error():
    with pytest.raises(opcheck.UsageError, match="variant"):
        opcheck.audit(square_op(), variant="N=99")


def _is_timing(key: str) -> bool:
    """Wall-clock fields (``duration``, ``seconds``, ...) are the only ones allowed to vary."""
    return key in ("duration", "seconds", "elapsed") or key.endswith(("_duration", "_seconds"))


def _without_durations(value):
    if isinstance(value, dict):
        return {k: _without_durations(v) for k, v in value.items() if not _is_timing(k)}
    if isinstance(value, list):
        return [_without_durations(v) for v in value]
    return value


def test_same_seed_same_report():
    first = opcheck.audit(matmul_op(), seed=11).to_dict()
    second = opcheck.audit(matmul_op(), seed=11).to_dict()
    assert _without_durations(first) == _without_durations(second)


def test_same_seed_same_report_for_a_failure():
    op = matmul_op(backward=lambda dout, x, w: {"x": dout @ w.T, "w": 1.01 * (x.T @ dout)})
    first, second = opcheck.audit(op, seed=3), opcheck.audit(op, seed=3)
    assert first.status == "fail"
    assert _without_durations(first.to_dict()) == _without_durations(second.to_dict())
    assert str(first) == str(second)


def _first_inputs(seed):
    seen = []

    def forward(x, w):
        seen.append((x.copy(), w.copy()))
        return x @ w

    opcheck.audit(matmul_op(forward=forward), seed=seed, variant="default")
    return seen[0]


def test_seed_decides_the_inputs():
    x0, w0 = _first_inputs(0)
    x0_again, w0_again = _first_inputs(0)
    x1, w1 = _first_inputs(1)
    np.testing.assert_array_equal(x0, x0_again)
    np.testing.assert_array_equal(w0, w0_again)
    assert not np.array_equal(x0, x1)
    assert not np.array_equal(w0, w1)


def test_seed_is_recorded_in_the_report():
    report = opcheck.audit(matmul_op(), seed=5)
    assert report.seed == 5
    assert all(v.seed == 5 for v in report.variants)


def test_audit_does_not_touch_numpys_global_random_state():
    np.random.seed(123)
    expected = np.random.uniform()
    np.random.seed(123)
    opcheck.audit(matmul_op())
    assert np.random.uniform() == expected


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_a_seed_that_is_not_a_whole_number_is_a_usage_error(seed) -> None:
    op = opcheck.Op(name="t.id", forward=lambda x: x * 1.0, backward=lambda dout, x: {"x": dout},
                    inputs={"x": opcheck.Tensor(shape=(3,))})
    with pytest.raises(opcheck.UsageError, match="is not a seed"):
        opcheck.audit(op, seed=seed)
