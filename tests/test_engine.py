"""opcheck.engine: the audit core, ``Op`` → ``OpReport``, called directly; and the front
end's ``opcheck.audit`` on top of it (lookup by name, the reproduce line)."""

from __future__ import annotations

import sys
import traceback
import types

import numpy as np
import pytest

import opcheck
from opcheck.engine import audit_op
from opcheck.errors import InputError, UsageError
from opcheck.public_audit import audit


def _square(scale: float = 2.0) -> opcheck.Op:
    """x**2, its backward scaled by ``scale`` (2.0: correct)."""
    return opcheck.Op(name="e.square", forward=lambda x: x * x,
                      backward=lambda dout, x: {"x": scale * x * dout},
                      inputs={"x": opcheck.Tensor(shape=("N",))}, dims={"N": 3})


def test_the_core_passes_a_correct_op_in_every_variant():
    report = audit_op(_square())
    assert report.status == "pass"
    assert [v.label for v in report.variants] == ["default", "N=1", "N=4"]
    assert all(i.counts["pass"] == i.size for v in report.variants for i in v.inputs)


def test_the_core_names_the_wrong_input_but_writes_no_command_line():
    report = audit_op(_square(2.001))
    assert report.status == "fail"
    assert "gradient mismatch in input 'x'" in report.message
    assert report.plugin is None and report.reproduce == ""  # the front end's job


def test_the_front_end_adds_the_python_reproduce_line_for_an_op_object():
    report = audit(_square(2.001), seed=3, order=1)
    assert report.reproduce == ("opcheck.audit(op, seed=3, variant='default', order=1)"
                                "  # op: your Op 'e.square'")


def test_the_front_end_finds_an_op_by_name_and_reproduces_it_as_a_command():
    @opcheck.hookimpl
    def opcheck_ops():
        return [_square(2.001)]

    plugin = types.ModuleType("engine_plugin")
    plugin.opcheck_ops = opcheck_ops
    report = audit("e.square", plugins=[plugin], mode="full", seed=1)
    assert report.status == "fail" and report.plugin == "engine_plugin"
    assert report.reproduce == ("opcheck audit e.square -p engine_plugin --seed 1 --variant default "
                                "--mode full")


def test_a_misspelt_name_gets_the_nearest_names():
    with pytest.raises(UsageError, match="no op named 'matmull'.*matmul"):
        audit("matmull")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"mode": "quick"}, "mode='quick' is not a mode"),
    ({"order": 3}, "order=3 is not an order"),
    ({"budget": -1}, "budget=-1 is not a budget"),
    ({"variant": "N=9"}, "has no variant 'N=9'; its variants are"),
])
def test_bad_arguments_are_usage_errors_naming_the_argument(kwargs, message):
    with pytest.raises(UsageError, match=message):
        audit_op(_square(), **kwargs)


def test_given_inputs_fix_the_dims_and_are_checked_against_the_schema():
    report = audit_op(_square(), inputs={"x": np.arange(1.0, 6.0)})
    assert [(v.label, v.dims) for v in report.variants] == [("given", {"N": 5})]
    with pytest.raises(InputError, match="expected dtype float64, got int64"):
        audit_op(_square(), inputs={"x": np.arange(5)})
    with pytest.raises(InputError, match=r"has no input\(s\) \['y'\]"):
        audit_op(_square(), inputs={"y": np.ones(2)})


def test_importing_the_core_leaves_opcheck_audit_the_function():
    import opcheck.engine  # noqa: F401

    assert callable(opcheck.audit) and opcheck.audit is audit
    assert not isinstance(opcheck.audit, types.ModuleType)
    with pytest.raises(ModuleNotFoundError):
        __import__("opcheck.audit")


def test_an_op_of_a_plugin_object_reproduces_as_a_python_call():
    class Plugin:
        @opcheck.hookimpl
        def opcheck_ops(self):
            return [_square(2.001)]

    plugin = Plugin()
    report = audit("e.square", plugins=[plugin], seed=2, order=1)
    assert report.status == "fail"
    assert report.reproduce == ("opcheck.audit('e.square', plugins=[plugin], seed=2, "
                                "variant='default', order=1)  # plugin: your Plugin object")
    again = opcheck.audit("e.square", plugins=[plugin], seed=2, variant="default", order=1)
    assert again.status == "fail" and again.message == report.message


def _exits_on_call(*where: str):
    """A forward that calls sys.exit(3) when called from one of opcheck's modules ``where``
    ("contract": its first call; "finite_diff", "small_ops": the finite differences, which
    call the forward directly, not through the contract's call)."""

    def forward(x):
        if any(f.filename.endswith(tuple(f"{w}.py" for w in where)) for f in traceback.extract_stack()):
            sys.exit(3)
        return x * x

    return forward


def _exiting_backward(dout, x):
    sys.exit(3)


EXIT_LINE = _exits_on_call.__code__.co_firstlineno + 7  # the line of sys.exit(3) in forward


@pytest.mark.parametrize("forward, backward, rule, line", [
    pytest.param(_exits_on_call("contract"), lambda dout, x: {"x": 2 * x * dout}, "forward", EXIT_LINE,
                 id="first-forward"),
    pytest.param(_exits_on_call("finite_diff", "small_ops"), lambda dout, x: {"x": 2 * x * dout}, "forward", EXIT_LINE,
                 id="forward-in-finite-differences"),
    pytest.param(lambda x: x * x, _exiting_backward, "backward",
                 _exiting_backward.__code__.co_firstlineno + 1, id="backward"),
])
def test_an_op_that_calls_sys_exit_is_its_variants_error_not_the_end_of_the_script(
        forward, backward, rule, line):
    op = opcheck.Op(name="e.exits", forward=forward, backward=backward,
                    inputs={"x": opcheck.Tensor(shape=("N",))}, dims={"N": 3})
    report = audit(op, variant="default")  # a SystemExit escaping would end this test run
    assert report.status == "error"
    assert report.message.startswith(f"variant default: {rule} called sys.exit(3) at "
                                     f"{__file__}:{line}; an op must raise an exception"), \
        report.message
    assert "sys.exit(3)" in report.variants[0].traceback


@pytest.mark.parametrize("op", [123, None, ["relu"]])
def test_an_op_that_is_neither_an_op_nor_a_name_is_a_usage_error(op):
    with pytest.raises(UsageError, match=r"op must be an opcheck.Op or the name of a discovered op"):
        audit(op)
