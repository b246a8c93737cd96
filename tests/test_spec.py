"""opcheck.spec: the Op and Tensor declarations and everything they refuse."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest

import opcheck
from opcheck import Op, Tensor


def _forward(x, w):
    return x @ w


def _backward(dout, x, w):
    return {"x": dout @ w.T, "w": x.T @ dout}


def _inputs(**extra):
    return {"x": Tensor(shape=("N", "D")), "w": Tensor(shape=("D", "M")), **extra}


def make_op(**overrides):
    """A valid matmul declaration with some fields replaced."""
    fields = {"name": "t.matmul", "forward": _forward, "backward": _backward, "inputs": _inputs()}
    fields.update(overrides)
    return Op(**fields)


# --- valid declarations -----------------------------------------------------------------


def test_tensor_defaults():
    t = Tensor(shape=("N", 3))
    assert t.shape == ("N", 3)
    assert t.dtype == "float64"
    assert t.bounds == (-1.0, 1.0)
    assert t.is_differentiable


def test_tensor_shape_list_becomes_tuple():
    assert Tensor(shape=["N", 2]).shape == ("N", 2)


def test_tensor_scalar_shape():
    t = Tensor(shape=())
    assert t.shape == ()
    assert t.concrete_shape({}) == ()


@pytest.mark.parametrize(
    "dtype, expected",
    [
        pytest.param("float32", "float32", id="name"),
        pytest.param(np.float16, "float16", id="numpy-type"),
        pytest.param(np.dtype("float64"), "float64", id="numpy-dtype"),
    ],
)
def test_tensor_dtype_is_normalised_to_a_name(dtype, expected):
    assert Tensor(shape=(2,), dtype=dtype).dtype == expected


def test_integer_tensor_is_not_differentiable_by_default():
    t = Tensor(shape=(4,), dtype="int64", low=0, high=10)
    assert not t.is_differentiable
    assert t.bounds == (0.0, 10.0)


def test_float_tensor_can_opt_out_of_differentiation():
    assert not Tensor(shape=(2,), differentiable=False).is_differentiable


def test_float_bounds_fill_in_the_missing_side():
    assert Tensor(shape=(2,), low=-0.5).bounds == (-0.5, 1.0)
    assert Tensor(shape=(2,), high=5.0).bounds == (-1.0, 5.0)
    assert Tensor(shape=(2,), low=0.1, high=0.2).bounds == (0.1, 0.2)


def test_concrete_shape_resolves_symbolic_dims():
    assert Tensor(shape=("N", 2, "D")).concrete_shape({"N": 5, "D": 7}) == (5, 2, 7)


def test_op_defaults_and_derived_properties():
    op = make_op(dims={"N": 2, "D": 5})
    assert op.symbolic_dims == ("N", "D", "M")
    assert op.default_dims() == {"N": 2, "D": 5, "M": opcheck.spec.DEFAULT_DIM}
    assert op.differentiable_inputs == ("x", "w")
    assert not op.backward_takes_out()
    assert op.rtol is None and op.atol is None
    assert op.description == ""


def test_op_inputs_keep_declaration_order():
    op = make_op(
        forward=lambda w, x: x @ w,
        backward=lambda dout, w, x: {"x": dout @ w.T, "w": x.T @ dout},
        inputs={"w": Tensor(shape=("D", "M")), "x": Tensor(shape=("N", "D"))},
    )
    assert list(op.inputs) == ["w", "x"]


def test_backward_may_take_out():
    op = make_op(backward=lambda dout, out, x, w: _backward(dout, x, w))
    assert op.backward_takes_out()


def test_var_keyword_functions_accept_any_inputs():
    op = make_op(forward=lambda **kw: kw["x"] @ kw["w"], backward=lambda dout, **kw: {})
    assert op.name == "t.matmul"


def test_parameters_with_defaults_are_allowed():
    op = make_op(forward=lambda x, w, scale=1.0: scale * (x @ w))
    assert list(op.inputs) == ["x", "w"]


def test_non_differentiable_integer_input():
    op = make_op(
        forward=lambda x, w, k: (x @ w) * k,
        backward=lambda dout, x, w, k: {"x": (dout * k) @ w.T, "w": x.T @ (dout * k)},
        inputs=_inputs(k=Tensor(shape=(), dtype="int64", low=1, high=4)),
    )
    assert op.differentiable_inputs == ("x", "w")


# --- frozen -----------------------------------------------------------------------------


def test_tensor_is_frozen():
    t = Tensor(shape=(2,))
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        t.dtype = "float32"
    assert t.dtype == "float64"


def test_op_is_frozen():
    op = make_op()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        op.name = "renamed"
    assert op.name == "t.matmul"


def test_models_are_hashable_values():
    assert Tensor(shape=(2,)) == Tensor(shape=(2,))
    assert hash(Tensor(shape=(2,))) == hash(Tensor(shape=(2,)))


# --- invalid declarations ---------------------------------------------------------------
#
# Each row: a callable building the declaration, then the words its message must contain.
# The first word names the field (or the argument the rule is about).


def _names_field(exc: pydantic.ValidationError, field: str) -> bool:
    """The field is an error's location, or, for a cross-field rule (no location), the
    subject its message starts with."""
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"])
        if loc == field or loc.startswith(f"{field}."):
            return True
        if not err["loc"] and err["msg"].removeprefix("Value error, ").startswith(field):
            return True
    return False


TENSOR_CASES = [
    pytest.param(lambda: Tensor(shape=(0,)), ["shape", "at least 1"], id="tensor-zero-size"),
    pytest.param(lambda: Tensor(shape=("N", 2.5)), ["shape", "shape[1]=2.5 is a float", "a dim name such as 'N'"],
                 id="tensor-fractional-size"),
    pytest.param(lambda: Tensor(shape=("N", None)), ["shape", "shape[1]=None is a NoneType"], id="tensor-none-size"),
    pytest.param(lambda: Tensor(shape=(-2, 3)), ["shape", "at least 1"], id="tensor-negative-size"),
    pytest.param(
        lambda: Tensor(shape=("1N",)), ["shape", "'1N'", "not a valid"], id="tensor-bad-dim-name"
    ),
    pytest.param(lambda: Tensor(shape=("for",)), ["shape", "'for'"], id="tensor-keyword-dim-name"),
    pytest.param(lambda: Tensor(shape=3), ["shape", "(3,)"], id="tensor-shape-not-a-tuple"),
    pytest.param(lambda: Tensor(shape=(2.5,)), ["shape"], id="tensor-float-size"),
    pytest.param(
        lambda: Tensor(shape=(True, 2)),
        ["shape", "bool"],
        id="tensor-bool-size",
    ),
    pytest.param(
        lambda: Tensor(shape=(2,), dtype="float65"),
        ["dtype", "'float65'"],
        id="tensor-unknown-dtype",
    ),
    pytest.param(
        lambda: Tensor(shape=(2,), dtype="complex256"),
        ["dtype", "complex256", "not supported"],
        id="tensor-complex256-dtype",
    ),
    pytest.param(
        lambda: Tensor(shape=(2,), dtype="U3"), ["dtype", "not supported"], id="tensor-string-dtype"
    ),
    pytest.param(
        lambda: Tensor(shape=(2,), low=1.0, high=1.0),
        ["high", "low=1.0", "high=1.0"],
        id="tensor-float-low-equals-high",
    ),
    pytest.param(
        lambda: Tensor(shape=(2,), low=2.0, high=-2.0),
        ["high", "low=2.0"],
        id="tensor-float-low-above-high",
    ),
    pytest.param(
        lambda: Tensor(shape=(2,), low=2.0),
        ["high", "low=2.0", "high=1.0"],
        id="tensor-float-low-above-default-high",
    ),
    pytest.param(
        lambda: Tensor(shape=(2,), dtype="int64", low=3, high=3),
        ["high", "low=3", "high=3"],
        id="tensor-int-low-equals-high",
    ),
    pytest.param(
        lambda: Tensor(shape=(2,), dtype="int32", low=5, high=1),
        ["high", "low=5"],
        id="tensor-int-low-above-high",
    ),
    pytest.param(
        lambda: Tensor(shape=(2,), dtype="int64"),
        ["high", "int64", "low=", "high="],
        id="tensor-int-without-range",
    ),
    pytest.param(
        lambda: Tensor(shape=(2,), dtype="int64", low=0),
        ["high", "int64", "must declare its range"],
        id="tensor-int-without-high",
    ),
    pytest.param(
        lambda: Tensor(shape=(2,), dtype="int64", low=0, high=3, differentiable=True),
        ["differentiable=True", "int64"],
        id="tensor-differentiable-int",
    ),
    pytest.param(
        lambda: Tensor(shape=(2,), colour="red"),
        ["colour", "Extra inputs"],
        id="tensor-unknown-field",
    ),
    pytest.param(lambda: Tensor(dtype="float64"), ["shape", "required"], id="tensor-missing-shape"),
]


@pytest.mark.parametrize("build, words", TENSOR_CASES)
def test_invalid_tensor_is_refused(build, words):
    with pytest.raises(pydantic.ValidationError) as info:
        build()
    assert _names_field(info.value, words[0])
    message = str(info.value)
    for word in words:
        assert word in message


OP_CASES = [
    pytest.param(
        {"forward": lambda x: x},
        ["forward", "['w']", "forward(x=..., w=...)"],
        id="op-forward-missing-an-input",
    ),
    pytest.param(
        {"forward": lambda x, w, y: x @ w},
        ["forward", "['y']", "not inputs"],
        id="op-forward-extra-parameter",
    ),
    pytest.param(
        {"forward": lambda a, b: a @ b},
        ["forward", "['x', 'w']"],
        id="op-forward-renamed-parameters",
    ),
    pytest.param(
        {"forward": lambda x, w, /: x @ w},
        ["forward", "by keyword"],
        id="op-forward-positional-only",
    ),
    pytest.param(
        {"backward": lambda dout, x, w, z: {}},
        ["backward", "['z']", "not inputs of the op"],
        id="op-backward-names-an-undeclared-input",
    ),
    pytest.param(
        {"backward": lambda x, w: {}},
        ["backward", "['dout']"],
        id="op-backward-without-dout",
    ),
    pytest.param(
        {"backward": lambda dout, x: {}},
        ["backward", "['w']"],
        id="op-backward-missing-an-input",
    ),
    pytest.param(
        {"dims": {"K": 2}}, ["dims", "['K']", "no input shape uses"], id="op-dims-names-unused-dim"
    ),
    pytest.param({"dims": {"N": 0}}, ["dims", "'N'", "at least 1"], id="op-dims-zero-size"),
    pytest.param(
        {
            "inputs": {"dout": Tensor(shape=(2,))},
            "forward": lambda dout: dout,
            "backward": lambda **kw: {},
        },
        ["inputs", "'dout'", "reserved"],
        id="op-reserved-input-dout",
    ),
    pytest.param(
        {
            "inputs": {"out": Tensor(shape=(2,))},
            "forward": lambda out: out,
            "backward": lambda **kw: {},
        },
        ["inputs", "'out'", "reserved"],
        id="op-reserved-input-out",
    ),
    pytest.param(
        {
            "inputs": {"my-x": Tensor(shape=(2,))},
            "forward": lambda **kw: 0,
            "backward": lambda **kw: {},
        },
        ["inputs", "'my-x'", "identifier"],
        id="op-input-name-not-identifier",
    ),
    pytest.param({"inputs": {}}, ["inputs", "at least one input"], id="op-empty-inputs"),
    pytest.param(
        {
            "inputs": {
                "x": {"shape": ("N", "D"), "low": 1.0, "high": 0.0},
                "w": Tensor(shape=("D", "M")),
            }
        },
        ["inputs.x.high", "low=1.0"],
        id="op-nested-tensor-low-above-high",
    ),
    pytest.param({"colour": "red"}, ["colour", "Extra inputs"], id="op-unknown-field"),
    pytest.param({"rtol": -1e-3}, ["rtol", "non-negative"], id="op-negative-rtol"),
    pytest.param(
        {"forward": "not callable"}, ["forward", "callable"], id="op-forward-not-callable"
    ),
]


@pytest.mark.parametrize("overrides, words", OP_CASES)
def test_invalid_op_is_refused_naming_the_op(overrides, words):
    with pytest.raises(pydantic.ValidationError) as info:
        make_op(**overrides)
    assert info.value.title == "Op 't.matmul'"
    message = str(info.value)
    assert "Op 't.matmul'" in message
    assert _names_field(info.value, words[0])
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("my op", id="space"),
        pytest.param(" op", id="leading-space"),
    ],
)
def test_invalid_op_name(name):
    with pytest.raises(pydantic.ValidationError, match="name"):
        make_op(name=name)


def test_op_without_a_name_still_gets_a_title():
    with pytest.raises(pydantic.ValidationError) as info:
        Op(forward=_forward, backward=_backward, inputs=_inputs())
    assert info.value.title == "Op"
    assert "name" in str(info.value)


def test_every_problem_of_an_op_is_reported_at_once():
    with pytest.raises(pydantic.ValidationError) as info:
        make_op(rtol=-1.0, colour="red")
    fields = {err["loc"][0] for err in info.value.errors()}
    assert fields == {"rtol", "colour"}


@pytest.mark.parametrize("values, says", [
    ({"a": 1}, "attr values are int, float, str, bool, None or tuples"),
    (3, "e.g. {'k': [3]}"),
    ([], "the first being the default"),
], ids=["dict", "scalar", "empty"])
def test_a_bad_attr_declaration_suggests_a_fix_that_works(values, says):
    with pytest.raises(pydantic.ValidationError) as caught:
        Op(name="t.k", forward=lambda x, k: x, backward=lambda dout, x, k: (dout,),
           inputs={"x": Tensor(shape=(3,))}, attrs={"k": values})
    assert says in str(caught.value)
    assert "[{" not in str(caught.value) and "[[]]" not in str(caught.value)


def test_a_numpy_ufunc_as_forward_is_told_to_wrap_it():
    with pytest.raises(pydantic.ValidationError) as caught:
        Op(name="t.tanh", forward=np.tanh, backward=lambda dout, x: (dout,),
           inputs={"x": Tensor(shape=(3,))})
    assert "forward=lambda x: np.tanh(x)" in str(caught.value)


def test_a_validated_op_cannot_be_changed_in_place_and_is_hashable():
    import copy
    import pickle

    op = opcheck.Op(name="t.frozen", forward=lambda x, k: x * k, backward=lambda dout, x, k: {"x": dout * k},
                    inputs={"x": opcheck.Tensor(shape=("N",))}, dims={"N": 3},
                    attrs={"k": [1.0, 2.0]}, xfail={"N=1": "known"}, constraints=["N > 1"])
    for mutate in (lambda: op.dims.__setitem__("N", 0), lambda: op.inputs.pop("x"),
                   lambda: op.attrs["k"].append(3.0), lambda: op.xfail.update(a="b"),
                   lambda: op.constraints.append("N < 9"), lambda: op.skip.setdefault("*", "")):
        with pytest.raises(TypeError, match="read-only"):
            mutate()
    assert op.dims == {"N": 3} and op.attrs == {"k": [1.0, 2.0]}  # still equal to plain ones
    assert hash(op) == hash(op.model_copy())
    assert {op: 1}[op] == 1
    assert pickle.loads(pickle.dumps(op.dims)) == {"N": 3}
    assert copy.deepcopy(op.attrs) == {"k": [1.0, 2.0]}


def test_a_misspelt_field_outside_discovery_names_the_field_it_meant():
    """In a test or a script a bad declaration raises pydantic's ValidationError at once;
    a misspelt field's message also says which field it probably meant."""
    with pytest.raises(pydantic.ValidationError) as tensor:
        Tensor(shpae=(3,))
    assert "'shpae' is not a field; did you mean 'shape'?" in str(tensor.value)
    assert [e["type"] for e in tensor.value.errors()] == ["missing", "extra_forbidden"]
    with pytest.raises(pydantic.ValidationError) as op:
        Op(name="t", forward=lambda x: x, backward=lambda dout, x: {"x": dout},
           inputs={"x": Tensor(shape=(3,))}, rtoll=1e-3)
    assert str(op.value).startswith("1 validation error for Op 't'")
    assert "'rtoll' is not a field; did you mean 'rtol'?" in str(op.value)
