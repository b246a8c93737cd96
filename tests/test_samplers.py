"""opcheck.samplers: built-in and plugin samplers draw what they promise, a bad draw is an
error naming the sampler, and constrained ops pass on the inputs they are defined for."""

from __future__ import annotations

import inspect
import types

import numpy as np
import pydantic
import pytest

import opcheck
from opcheck import Op, Tensor, samplers


def rng():
    return np.random.default_rng(0)


def test_spd_is_symmetric_positive_definite_over_the_last_two_axes():
    a = samplers.draw("spd", (2, 4, 4), "float64", rng())
    assert a.shape == (2, 4, 4) and a.dtype == np.float64
    np.testing.assert_array_equal(a, np.swapaxes(a, -1, -2))
    assert np.linalg.eigvalsh(a).min() >= 0.5 - 1e-12


def test_simplex_is_positive_and_sums_to_one():
    p = samplers.draw("simplex", (3, 5), "float32", rng())
    assert p.dtype == np.float32 and (p > 0).all()
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 4, 4)])
def test_orthogonal_has_orthonormal_columns_or_rows(shape):
    q = samplers.draw("orthogonal", shape, "float64", rng())
    m, n = shape[-2:]
    gram = np.swapaxes(q, -1, -2) @ q if m >= n else q @ np.swapaxes(q, -1, -2)
    np.testing.assert_allclose(gram, np.broadcast_to(np.eye(min(m, n)), gram.shape), atol=1e-12)


def _logdet_op(sampler):
    def forward(a):
        a = (a + a.T) / 2  # cholesky reads one triangle: symmetrise, so both count
        return 2.0 * np.log(np.diag(np.linalg.cholesky(a))).sum()  # raises off the SPD cone

    def backward(dout, a):
        return {"a": dout * np.linalg.inv(a)}

    return Op(name="t.logdet", forward=forward, backward=backward,
              inputs={"a": Tensor(shape=("N", "N"), sampler=sampler)})


def test_an_op_that_raises_on_non_spd_input_passes_with_the_spd_sampler():
    assert opcheck.audit(_logdet_op(None)).status == "error"  # uniform in [-1, 1]: not SPD
    report = opcheck.audit(_logdet_op("spd"))
    assert report.status == "pass", report.message


def test_a_callable_sampler_is_seeded_like_everything_else():
    op = Op(name="t.log", forward=lambda x: np.log(x), backward=lambda dout, x: {"x": dout / x},
            inputs={"x": Tensor(shape=("N",), sampler=lambda r, shape, dtype:
                                r.uniform(0.5, 2.0, size=shape).astype(dtype))})
    first, again = opcheck.audit(op, seed=3), opcheck.audit(op, seed=3)
    assert first.status == "pass"
    assert first.max_rel_error == again.max_rel_error


@pytest.mark.parametrize("bad, words", [
    pytest.param(lambda r, s, d: np.zeros((*s, 2), d), ["shape", "asked for shape (3,)"], id="shape"),
    pytest.param(lambda r, s, d: np.zeros(s, np.float32), ["dtype float32", "float64"], id="dtype"),
    pytest.param(lambda r, s, d: [0.0] * 3, ["returned a list"], id="not-an-array"),
    pytest.param(lambda r, s, d: np.full(s, np.nan), ["non-finite"], id="nan"),
    pytest.param(lambda r, s, d: 1 / 0, ["raised ZeroDivisionError"], id="raises"),
])
def test_a_bad_draw_is_an_error_naming_the_sampler(bad, words):
    def my_sampler(r, shape, dtype):
        return bad(r, shape, dtype)

    op = Op(name="t.id", forward=lambda x: 2.0 * x, backward=lambda dout, x: {"x": 2.0 * dout},
            inputs={"x": Tensor(shape=("N",), sampler=my_sampler)})
    report = opcheck.audit(op)
    assert report.status == "error"
    assert "my_sampler" in report.message
    for word in words:
        assert word in report.message


@pytest.mark.parametrize("tensor, words", [
    pytest.param({"shape": ("N", "M"), "sampler": "spd"}, ["spd", "square"], id="spd-not-square"),
    pytest.param({"shape": ("N",), "sampler": "orthogonal"}, ["orthogonal", "2 axes"], id="ortho-1d"),
    pytest.param({"shape": (), "sampler": "simplex"}, ["simplex", "1 axes"], id="simplex-0d"),
    pytest.param({"shape": (2, 2), "sampler": "spd", "dtype": "int64", "low": 0, "high": 2}, ["floats"],
                 id="spd-int"),
])
def test_invalid_sampler_declarations(tensor, words):
    with pytest.raises(pydantic.ValidationError) as info:
        Tensor(**tensor)
    for word in words:
        assert word in str(info.value)


def _plugin(name, ops, table):
    module = types.ModuleType(name)
    module.opcheck_ops = opcheck.hookimpl(lambda: ops)
    if table is not None:
        module.opcheck_samplers = opcheck.hookimpl(lambda: table)
    return module


def _positive_op(name="t.sqrt"):
    return Op(name=name, forward=lambda x: np.sqrt(x), backward=lambda dout, x: {"x": dout / (2 * np.sqrt(x))},
              inputs={"x": Tensor(shape=("N",), sampler="mylib.positive")})


def test_a_plugin_sampler_is_found_by_name():
    table = {"mylib.positive": lambda r, shape, dtype: r.uniform(0.5, 2.0, shape).astype(dtype)}
    registry = opcheck.discover([_plugin("pos_plugin", [_positive_op()], table)], autoload=False)
    assert not registry.errors
    assert opcheck.audit(registry["t.sqrt"]).status == "pass"


def test_an_unknown_sampler_name_is_an_error_entry_and_the_others_load():
    registry = opcheck.discover([_plugin("no_samplers", [_positive_op()], None)], autoload=False)
    assert "t.sqrt" not in registry and "matmul" in registry
    [error] = registry.errors
    assert error.op == "t.sqrt" and error.fields == ("inputs.x.sampler",)
    assert "'mylib.positive'" in str(error) and "spd" in str(error)


def test_a_misspelt_sampler_name_points_at_its_line_and_the_nearest_name():
    line = inspect.currentframe().f_lineno + 1
    x = Tensor(shape=("N", "N"), sampler="spdd")
    op = Op(name="t.bad", forward=lambda x: x, backward=lambda dout, x: {"x": dout}, inputs={"x": x})
    [error] = opcheck.discover([_plugin("typo", [op], None)], autoload=False).errors
    assert error.location == f"{__file__}:{line}"
    assert f"at {__file__}:{line}" in str(error) and "did you mean spd?" in str(error)


def test_a_plugin_sampler_may_not_shadow_a_builtin():
    registry = opcheck.discover([_plugin("shadow", [], {"spd": lambda r, s, d: None})],
                                autoload=False)
    assert any("'spd' is also a built-in sampler" in str(e) for e in registry.errors)
