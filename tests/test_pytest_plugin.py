"""The pytest plugin, end to end with pytester: collection, failure reports, the fixture,
skips and expected failures, the ini option, and a run under pytest-xdist.

Test plugins are written into each pytester directory; ``--opcheck-ops 'mylib.*'`` keeps
the built-in ops (whose number changes) out of the counts.
"""

from __future__ import annotations

import ast
import re
import textwrap
from xml.etree import ElementTree
from pathlib import Path

import pytest

import opcheck.engine  # noqa: F401 - numpy, pydantic and the core imported once, before pytester's snapshots
from opcheck import pytest_plugin

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The short test summary keeps its messages whole."""
    monkeypatch.setenv("COLUMNS", "250")

PLUGIN = """
import opcheck


def square(x):
    return x * x


def square_grad(dout, x):
    return {"x": 2.0 * x * dout}


def half_grad(dout, x):  # the factor 2 forgotten
    return {"x": x * dout}


def wrong_at_batch_one(dout, x):
    return {"x": (1.0 if x.shape[0] == 1 else 2.0) * x * dout}


def mutating_square(x):
    x -= 1.0
    return x * x


def op(name, backward, forward=square, dtype="float64", **fields):
    return opcheck.Op(name=name, forward=forward, backward=backward,
                      inputs={"x": opcheck.Tensor(shape=("N", 3), dtype=dtype)}, **fields)
"""

MYLIB = PLUGIN + """

@opcheck.hookimpl
def opcheck_ops():
    return [
        op("mylib.square", square_grad),
        op("mylib.wrong", half_grad),
        op("mylib.mutates", square_grad, forward=mutating_square),
    ]
"""

EXPECT = PLUGIN + """

@opcheck.hookimpl
def opcheck_ops():
    return [
        op("expect.known", half_grad, xfail={"*": "issue 12"}),
        op("expect.fixed", square_grad, xfail={"*": "issue 13"}),
        op("expect.batch_one", wrong_at_batch_one, xfail={"N=1": "a batch of one"}),
        op("expect.f32", half_grad, dtype="float32", skip={"float32": "no float32 here"}),
        op("expect.skip_batch_one", wrong_at_batch_one, skip={"N=1": "batch of one unsupported"}),
    ]
"""

FIXTURE_TESTS = """
import numpy as np
import pytest


def relu(x):
    return np.maximum(x, 0.0)


def relu_backward(dout, x):
    return {"x": dout * (x > 0)}


def test_relu(opcheck):
    report = opcheck.assert_gradients(
        forward=relu, backward=relu_backward, inputs={"x": opcheck.Tensor(shape=(4, 5))},
    )
    assert report.status == "pass" and report.max_rel_error < 1e-6
    assert [v.label for v in report.variants] == ["default"]


def test_sigmoid_wrong(opcheck):
    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    opcheck.assert_gradients(
        forward=sigmoid,
        backward=lambda dout, x, out: {"x": dout * out},  # forgot (1 - out)
        inputs={"x": opcheck.Tensor(shape=("N", 3))},
        name="my_sigmoid",
    )
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A directory with the test plugin ``mylib_ops`` named in pytest.ini; no entry points."""
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(mylib_ops=MYLIB, expect_ops=EXPECT)
    pytester.makeini("[pytest]\nopcheck_plugins = mylib_ops\n")
    return pytester


def mylib(*args: str) -> tuple[str, ...]:
    return ("--opcheck", "--opcheck-ops", "mylib.*", "-p", "no:cacheprovider", *args)


# -- options, marker, fixture documentation ----------------------------------------------


def test_options_live_in_their_own_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines([
        "opcheck: gradient audits of op plugins:",
        "  --opcheck * collect every discovered op as a test item whose id is*",
        "  --opcheck-ops=GLOB*",
        "  --opcheck-plugin=MODULE",
        "  --opcheck-mode={auto,full,fast}",
        "  --opcheck-seed=N*",
    ])
    result.stdout.fnmatch_lines(["  opcheck_plugins (args):*", "  opcheck_xfail_strict (bool):*"])


def test_marker_and_fixture_are_documented(pytester: pytest.Pytester) -> None:
    pytester.runpytest("--markers").stdout.fnmatch_lines(
        ["@pytest.mark.opcheck(seed=None, mode=None, xfail=None, skip=None, strict=None): *"]
    )
    pytester.runpytest("--fixtures").stdout.fnmatch_lines(
        ["opcheck -- *pytest_plugin.py:*", "    Gradient-check an op in a test: *"]
    )


@pytest.mark.parametrize("module", ["pytest_plugin", "pytest_checks", "pytest_fixture"])
def test_the_module_imports_only_pytest_and_the_standard_library(module: str) -> None:
    path = Path(pytest_plugin.__file__).with_name(f"{module}.py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            top.add(node.module.split(".")[0])
    assert top <= {"__future__", "collections", "fnmatch", "importlib", "os", "shlex", "sys",
                   "types", "typing", "warnings", "pytest"}, top


def test_a_suite_that_never_uses_opcheck_does_not_import_numpy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_nothing_heavy():
            assert "opcheck.pytest_plugin" in sys.modules
            assert "numpy" not in sys.modules and "pydantic" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:xdist")
    result.assert_outcomes(passed=1)


# -- collection -------------------------------------------------------------------------


def test_ops_are_items_named_after_the_op_in_sorted_order(project: pytest.Pytester) -> None:
    project.makepyfile(test_plain="def test_plain(): pass")
    result = project.runpytest(*mylib("--collect-only", "-q"))
    result.stdout.fnmatch_lines([
        "test_plain.py::test_plain",
        "opcheck::mylib.mutates",
        "opcheck::mylib.square",
        "opcheck::mylib.wrong",
        "",
        "4 tests collected in *",
    ], consecutive=True)


def test_without_the_flag_no_op_is_collected(project: pytest.Pytester) -> None:
    project.makepyfile(test_plain="def test_plain(): pass")
    result = project.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["test_plain.py::test_plain", "", "1 test collected in *"])
    result.stdout.no_fnmatch_line("opcheck::*")


def test_builtin_ops_are_collected(pytester: pytest.Pytester,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest("--opcheck", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["opcheck::matmul"])
    result.stdout.fnmatch_lines(["opcheck::sigmoid_affine"])
    result = pytester.runpytest("--opcheck-ops", "matmul", "--opcheck-ops", "sigmoid_affine", "-v")
    result.stdout.fnmatch_lines(["opcheck::matmul PASSED*", "opcheck::sigmoid_affine PASSED*"])
    result.assert_outcomes(passed=2)


def test_entry_point_plugins_are_collected_unless_autoload_is_off(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makepyfile(mylib_ops=MYLIB)
    dist = pytester.mkdir("mylib-1.0.dist-info")
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mylib\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[opcheck]\nmylib = mylib_ops\n")
    pytester.syspathinsert()
    args = ("--opcheck-ops", "mylib.*", "--collect-only", "-q")
    pytester.runpytest(*args).stdout.fnmatch_lines(["opcheck::mylib.mutates", "3 tests collected*"])
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest(*args)
    result.stdout.fnmatch_lines(["*--opcheck-ops 'mylib.*' matches no op*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_k_selects_ops_by_name(project: pytest.Pytester) -> None:
    result = project.runpytest(*mylib("-k", "square or mylib.mutates", "-v"))
    result.stdout.fnmatch_lines(["opcheck::mylib.mutates FAILED*", "opcheck::mylib.square PASSED*"])
    result.assert_outcomes(passed=1, failed=1, deselected=1)


def test_m_opcheck_selects_only_the_gradient_checks(project: pytest.Pytester) -> None:
    project.makepyfile(test_plain="def test_plain(): pass")
    result = project.runpytest(*mylib("-m", "opcheck", "-k", "square"))
    result.assert_outcomes(passed=1, deselected=3)


def test_exitfirst_stops_at_the_first_failing_op(project: pytest.Pytester) -> None:
    result = project.runpytest(*mylib("-x"))
    result.assert_outcomes(failed=1)  # mylib.mutates, first in sorted order


def test_last_failed_reruns_only_the_failed_ops(project: pytest.Pytester) -> None:
    args = ("--opcheck", "--opcheck-ops", "mylib.*")
    project.runpytest(*args).assert_outcomes(passed=1, failed=2)
    result = project.runpytest(*args, "--lf", "-v")
    result.stdout.fnmatch_lines(["run-last-failure: rerun previous 2 failures"])
    result.stdout.fnmatch_lines(["opcheck::mylib.mutates FAILED*", "opcheck::mylib.wrong FAILED*"])
    result.assert_outcomes(failed=2, deselected=1)
    result = project.runpytest(*args, "--ff", "-v")
    result.stdout.fnmatch_lines(
        ["opcheck::mylib.mutates FAILED*", "opcheck::mylib.wrong FAILED*",
         "opcheck::mylib.square PASSED*"]
    )


def test_xdist_runs_the_same_node_ids(project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    project.makepyfile(test_fixture=FIXTURE_TESTS)
    result = project.runpytest_subprocess(*mylib("-n", "2", "-v"))
    result.stdout.fnmatch_lines(["created: 2/2 workers"])
    for line in ("PASSED opcheck::mylib.square", "FAILED opcheck::mylib.wrong",
                 "FAILED opcheck::mylib.mutates", "PASSED test_fixture.py::test_relu",
                 "FAILED test_fixture.py::test_sigmoid_wrong"):
        result.stdout.fnmatch_lines([f"*{line}*"])
    result.stdout.fnmatch_lines(["Mismatched elements: 9 / 9 (100%)"])
    result.assert_outcomes(passed=2, failed=3)


# -- failure reports ----------------------------------------------------------------------


def test_a_gradient_mismatch_reads_like_numpy_testing(project: pytest.Pytester) -> None:
    result = project.runpytest(*mylib("-k", "wrong or square", "--opcheck-seed", "3"))
    result.assert_outcomes(passed=1, failed=1, deselected=1)
    result.stdout.fnmatch_lines([
        "*_ opcheck mylib.wrong _*",
        ("mylib.wrong: FAIL — variant default: gradient mismatch in input 'x': 9 / 9 elements "
        "differ; worst at *: analytic * vs numeric *"),
        "Gradient mismatch: op 'mylib.wrong', input 'x', variant default (dims N=3, seed 3)",
        "Mismatched elements: 9 / 9 (100%)",
        "Max absolute difference: *",
        "Max relative error |a-n|/(|a|+|n|): 0.333",
        "Tolerance: rtol=*, atol=0, plus the finite difference's error estimate; step h=*",
        "Worst elements:",
        "  index * analytic * numeric * |diff| * est. error",
        "  (*) * * * * *",
        "*",
        "*",
        "*",
        "*",
        "Failing variants: default, N=1, N=4 (3 of 3); the first is shown",
        "Reproduce: opcheck audit mylib.wrong -p mylib_ops --seed 3 --variant default",
        "*= short test summary info =*",
        "FAILED opcheck::mylib.wrong*",
    ], consecutive=True)
    # pytest's own style: the report only, no traceback through opcheck's internals
    assert "Traceback" not in result.stdout.str()
    assert "audit.py" not in result.stdout.str()


def test_mode_option_reaches_the_report(project: pytest.Pytester) -> None:
    result = project.runpytest(*mylib("-k", "wrong", "--opcheck-mode", "fast"))
    result.stdout.fnmatch_lines([("Reproduce: opcheck audit mylib.wrong -p mylib_ops --seed 0 "
                                 "--variant default --mode fast")])


def test_a_contract_error_reads_plainly(project: pytest.Pytester) -> None:
    result = project.runpytest(*mylib("-k", "mutates"))
    result.stdout.fnmatch_lines([
        "*_ opcheck mylib.mutates _*",
        ("mylib.mutates: ERROR — variant default: forward mutated its input 'x' in place; "
        "compute into a new array instead (e.g. x = x - m, not x -= m)"),
        "Failing variants: default, N=1, N=4 (3 of 3); the first is shown",
        "Reproduce: opcheck audit mylib.mutates -p mylib_ops --seed 0 --variant default",
    ], consecutive=True)
    result.assert_outcomes(failed=1, deselected=2)


def test_a_broken_plugin_fails_its_own_item_not_the_session(project: pytest.Pytester) -> None:
    project.makepyfile(broken_ops="""
        import opcheck

        @opcheck.hookimpl
        def opcheck_ops():
            return [opcheck.Op(name="mylib.bad", forward=lambda x, y: x,
                               backward=lambda dout, x: {"x": dout},
                               inputs={"x": opcheck.Tensor(shape=(3,))})]
    """)
    result = project.runpytest(*mylib("--opcheck-plugin", "broken_ops", "-k", "bad or square"))
    result.stdout.fnmatch_lines([
        "*_ opcheck mylib.bad _*",
        "plugin 'broken_ops': invalid declaration of op 'mylib.bad' at *broken_ops.py:*",
        "  Op 'mylib.bad': forward: parameter(s) *'y'* are not inputs of the op*",
    ])
    result.assert_outcomes(passed=1, failed=1, deselected=2)


def test_an_op_node_id_on_the_command_line_selects_that_op(project: pytest.Pytester) -> None:
    """`pytest opcheck::NAME`, the node id the run prints, reruns that op alone."""
    project.makepyfile(test_other="def test_other():\n    pass\n")
    result = project.runpytest("opcheck::mylib.square", "opcheck::mylib.wrong", "-v",
                               "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["opcheck::mylib.square PASSED*", "opcheck::mylib.wrong FAILED*"])
    both = project.runpytest("test_other.py", "opcheck::mylib.square", "-p", "no:cacheprovider")
    both.assert_outcomes(passed=2)
    every = project.runpytest("opcheck", "--co", "-q", "-p", "no:cacheprovider")  # the collector
    every.stdout.fnmatch_lines(["opcheck::matmul", "opcheck::mylib.square"], consecutive=False)
    assert "test_other.py" not in every.stdout.str()
    union = project.runpytest("opcheck", "opcheck::mylib.square", "--co", "-q", "-p", "no:cacheprovider")
    union.stdout.fnmatch_lines(["opcheck::matmul", "opcheck::mylib.square"], consecutive=False)
    missing = project.runpytest("opcheck::mylib.squares", "-p", "no:cacheprovider")
    missing.stdout.fnmatch_lines(["opcheck::mylib.squares names no op (a node id is one op's "
                                  "exact name); did you mean mylib.square*"])
    assert missing.ret != 0
    blocked = project.runpytest("--opcheck-plugin", "no:mylib_ops", "--opcheck-ops", "zzz*",
                                "-p", "no:cacheprovider")  # the listing leaves the blocked one out
    blocked.stdout.fnmatch_lines(["*--opcheck-ops 'zzz*' matches no op; the * discovered ops "
                                  "are listed by `opcheck list`*"])
    bracket = project.runpytest("opcheck::mylib.square[default]", "-p", "no:cacheprovider")
    bracket.stdout.fnmatch_lines(["opcheck::mylib.square[[]default] names no op*; did you mean "
                                  "mylib.square*"])


# -- the fixture --------------------------------------------------------------------------


def test_fixture_passes_returns_the_report_and_fails_with_the_report(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_fixture=FIXTURE_TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*_ test_sigmoid_wrong _*",
        "*",
        "    def test_sigmoid_wrong(opcheck):",
        "*",
        ">       opcheck.assert_gradients(",
        "*",
        ("E       AssertionError: my_sigmoid: FAIL — variant default: "
        "gradient mismatch in input 'x'*"),
        "E       Gradient mismatch: op 'my_sigmoid', input 'x', variant default (dims N=3, seed 0)",
        "E       Mismatched elements: 9 / 9 (100%)",
    ])
    result.stdout.fnmatch_lines([
        "E       Reproduce: pytest test_fixture.py::test_sigmoid_wrong",
        "",
        "test_fixture.py:*: AssertionError",
    ], consecutive=True)
    assert "pytest_plugin.py" not in result.stdout.str()  # __tracebackhide__


def test_fixture_checks_a_declared_op_and_a_discovered_one(project: pytest.Pytester) -> None:
    project.makepyfile("""
        import numpy as np
        import pytest
        from mylib_ops import op, square_grad, half_grad

        def test_declared(opcheck):
            assert opcheck.assert_gradients(op("sq", square_grad)).ok

        def test_declared_wrong(opcheck):
            opcheck.assert_gradients(op("half", half_grad), variant="N=1")

        def test_by_name(opcheck):
            report = opcheck.assert_gradients("mylib.square", seed=4)
            assert (report.name, report.seed, report.plugin) == ("mylib.square", 4, "mylib_ops")
            assert [v.label for v in report.variants] == ["default", "N=1", "N=4"]

        def test_given_values(opcheck):
            report = opcheck.assert_gradients("matmul", values={"x": np.ones((2, 4))})
            assert [v.label for v in report.variants] == ["given"]

        @pytest.mark.opcheck(seed=7, mode="fast")
        def test_marker_settings(opcheck):
            report = opcheck.assert_gradients("mylib.square")
            assert (report.seed, report.mode) == (7, "fast")

        def test_unknown_name(opcheck):
            opcheck.assert_gradients("mylib.squares")

        @pytest.mark.opcheck(seed=3)
        def test_audit_by_name(opcheck):  # found through the ini file's opcheck_plugins
            report = opcheck.audit("mylib.wrong")
            assert (report.status, report.plugin, report.seed) == ("fail", "mylib_ops", 3)

        def test_audit_unknown_name(opcheck):
            opcheck.audit("mylib.wrongs")

        def test_audit_values(opcheck):  # assert_gradients' keyword works here too
            report = opcheck.audit("matmul", values={"x": np.ones((2, 4))})
            assert [v.label for v in report.variants] == ["given"]

        def test_values_as_inputs(opcheck):
            opcheck.assert_gradients("matmul", inputs={"x": np.ones((2, 4))})

        def test_misspelt_values(opcheck):
            opcheck.assert_gradients("matmul", valeus={"x": np.ones((2, 4))})
    """)
    result = project.runpytest("-p", "no:cacheprovider", "-rf")
    result.stdout.fnmatch_lines([
        "E       AssertionError: half: FAIL — variant N=1: gradient mismatch in input 'x'*",
    ])
    result.stdout.fnmatch_lines([
        "FAILED test_fixture_checks_a_declared_op_and_a_discovered_one.py::test_declared_wrong*",
        ("FAILED *::test_unknown_name - Failed: no op named 'mylib.squares'; did you mean "
        "mylib.square*"),
        ("FAILED *::test_audit_unknown_name - Failed: no op named 'mylib.wrongs'; did you mean "
        "mylib.wrong*"),
        ("FAILED *::test_values_as_inputs - Failed: assert_gradients(inputs=...) declares the "
         "op's input schema (opcheck.Tensor(shape=...)); to fix the input values, pass them as "
         "values={...}"),
    ])
    result.stdout.fnmatch_lines(["FAILED *::test_misspelt_values - Failed: assert_gradients got "
                                 "valeus=; did you mean values=?"])
    result.assert_outcomes(passed=6, failed=5)


ATTR_OP = """
import opcheck


def forward(x, scale, shift):
    return x * scale + shift


def backward(dout, x, scale, shift):  # wrong at scale=2: the factor is dropped
    return {"x": dout * (1.0 if scale == 2 else scale)}


def scaled():
    return opcheck.Op(name="scaled", forward=forward, backward=backward,
                      inputs={"x": opcheck.Tensor(shape=("N",))},
                      attrs={"scale": [1, 2], "shift": [0, 1]})
"""


def test_fixture_variant_picks_variants_as_the_cli_does(pytester: pytest.Pytester) -> None:
    """``variant=`` matches as ``opcheck audit --variant`` (configurations.matching): part of
    a label picks every variant holding it, and ``default`` is the first, attrs or not."""
    pytester.makepyfile(scaled_op=ATTR_OP)
    pytester.makepyfile(test_variants="""
        import pytest
        from scaled_op import scaled

        def test_part_of_a_label(opcheck):
            report = opcheck.assert_gradients(scaled(), variant="scale=1")
            assert [v.label for v in report.variants] == [
                "scale=1 shift=0", "scale=1 shift=0 N=1", "scale=1 shift=0 N=4", "scale=1 shift=1"]

        def test_default_of_an_op_with_attrs(opcheck):
            report = opcheck.assert_gradients(scaled(), variant="default")
            assert [v.label for v in report.variants] == ["scale=1 shift=0"]

        def test_part_that_fails(opcheck):
            opcheck.assert_gradients(scaled(), variant="scale=2")

        def test_no_such_variant(opcheck):
            opcheck.assert_gradients(scaled(), variant="scale=3")

        @pytest.mark.opcheck(xfail={"scale=2": "drops the factor"})  # as Op(xfail=...) in the CLI
        def test_part_of_a_label_as_an_xfail_selector(opcheck):
            opcheck.assert_gradients(scaled())
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "-rfx")
    result.stdout.fnmatch_lines([
        "E       Failing variants: scale=2 shift=0, scale=2 shift=1 (2 of 2); the first is shown",
    ])
    result.stdout.fnmatch_lines([
        ("FAILED test_variants.py::test_part_that_fails - AssertionError: scaled: FAIL — "
         "variant scale=2 shift=0: gradient mismatch*"),
        ("FAILED test_variants.py::test_no_such_variant - Failed: op 'scaled' has no variant "
         "'scale=3'; its variants are scale=1 shift=0, scale=1 shift=0 N=1, *"),
    ])
    result.stdout.fnmatch_lines([
        ("XFAIL test_variants.py::test_part_of_a_label_as_an_xfail_selector - variant scale=2 "
         "shift=0: drops the factor; variant scale=2 shift=1: drops the factor"),
    ])
    result.assert_outcomes(passed=2, failed=2, xfailed=1)


def test_command_line_seed_reaches_the_fixture_and_its_reproduce_line(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_fixture=FIXTURE_TESTS)
    result = pytester.runpytest("--opcheck-seed", "5", "-k", "sigmoid")
    result.stdout.fnmatch_lines([
        "E       Gradient mismatch: op 'my_sigmoid', input 'x', variant default (dims N=3, seed 5)",
    ])
    result.stdout.fnmatch_lines(
        ["E       Reproduce: pytest test_fixture.py::test_sigmoid_wrong --opcheck-seed 5"]
    )
    budget = pytester.runpytest("--opcheck-seed", "5", "--opcheck-budget", "2", "-k", "sigmoid")
    budget.stdout.fnmatch_lines(  # the budget decides what a sampled check compares
        ["E       Reproduce: pytest test_fixture.py::test_sigmoid_wrong --opcheck-seed 5 "
         "--opcheck-budget 2.0"]
    )


def test_an_invalid_op_fails_its_test_with_the_pydantic_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad="""
        def test_bad_shape(opcheck):
            opcheck.assert_gradients(forward=lambda x: x, backward=lambda dout, x: {"x": dout},
                                     inputs={"x": opcheck.Tensor(shape=(4,))}, dims={"N": 2})

        def test_fine(opcheck):
            opcheck.assert_gradients(forward=lambda x: 3 * x,
                                     backward=lambda dout, x: {"x": 3 * dout},
                                     inputs={"x": opcheck.Tensor(shape=(4,))})
    """)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        ">       opcheck.assert_gradients(*",
        ("E       pydantic_core._pydantic_core.ValidationError: "
        "1 validation error for Op 'test_bad_shape'"),
        "E         Value error, dims names [[]'N'[]] but no input shape uses them*",
    ])
    assert "pytest_plugin.py" not in result.stdout.str()


# -- skips and expected failures ---------------------------------------------------------


def test_declared_skips_and_xfails_of_ops(project: pytest.Pytester) -> None:
    result = project.runpytest("--opcheck-ops", "expect.*", "--opcheck-plugin", "expect_ops",
                               "-v", "-rsx", "--junitxml", "out.xml")
    cases = ElementTree.parse(project.path / "out.xml").getroot().iter("testcase")
    properties = {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
                  for case in cases}
    # every audited op item carries its verdict, an expected failure's too
    assert properties["expect.known"]["opcheck_status"] == "fail"
    assert properties["expect.batch_one"]["opcheck_coverage"].startswith("all ")
    assert properties["expect.fixed"]["opcheck_status"] == "pass"
    assert "max_rel_error" in properties["expect.fixed"]
    assert properties["expect.f32"] == {}  # skipped: not audited
    result.stdout.fnmatch_lines([
        "opcheck::expect.batch_one XFAIL (variant N=1: a batch of one)*",
        "opcheck::expect.f32 SKIPPED (no float32 here)*",
        "opcheck::expect.fixed FAILED*",
        "opcheck::expect.known XFAIL (issue 12)*",
        "opcheck::expect.skip_batch_one PASSED*",
    ])
    result.stdout.fnmatch_lines([
        "*_ opcheck expect.fixed _*",
        "[XPASS(strict)] op 'expect.fixed': issue 13",
        ("It was expected to fail and now passes: remove the xfail declaration "
        "(or mark it strict=False)."),
    ])
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] expect_ops.py:*: no float32 here"])
    result.assert_outcomes(passed=1, failed=1, skipped=1, xfailed=2)


def test_runxfail_and_a_non_strict_ini(project: pytest.Pytester) -> None:
    args = ("--opcheck-ops", "expect.known", "--opcheck-ops", "expect.fixed",
            "--opcheck-plugin", "expect_ops", "-p", "no:cacheprovider")
    project.runpytest(*args, "--runxfail").assert_outcomes(passed=1, failed=1)
    project.makeini("[pytest]\nopcheck_xfail_strict = false\n")
    result = project.runpytest(*args, "-rX")
    result.stdout.fnmatch_lines(["XPASS opcheck::expect.fixed - op 'expect.fixed': issue 13"])
    result.assert_outcomes(xpassed=1, xfailed=1)


def test_conftest_declares_expected_failures_with_the_marker(project: pytest.Pytester) -> None:
    project.makeconftest("""
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                if item.name == "mylib.wrong":
                    item.add_marker(pytest.mark.opcheck(xfail={"float64": "issue 7"}))
                if item.name == "mylib.mutates":
                    item.add_marker(pytest.mark.opcheck(skip="rewritten next release"))
    """)
    result = project.runpytest(*mylib("-rsx"))
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] mylib_ops.py:*: rewritten next release",
                                 "XFAIL opcheck::mylib.wrong - issue 7"])
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)


def test_marker_on_fixture_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        pytestmark = pytest.mark.opcheck(xfail={"float32": "float32 too coarse here"})

        def double(dtype):
            return dict(forward=lambda x: 2 * x, backward=lambda dout, x: {"x": 2 * dout},
                        inputs={"x": opcheck_tensor(shape=("N",), dtype=dtype)})

        from opcheck import Tensor as opcheck_tensor

        def wrong_at_one(dout, x):
            return {"x": (1.0 if x.shape[0] == 1 else 2.0) * dout}

        def test_module_xfail_by_dtype(opcheck):
            opcheck.assert_gradients(forward=lambda x: 2 * x, backward=lambda dout, x: {"x": dout},
                                     inputs={"x": opcheck.Tensor(shape=(3,), dtype="float32")})

        def test_module_xfail_passes_strictly(opcheck):
            opcheck.assert_gradients(**double("float32"))

        def test_module_xfail_does_not_touch_float64(opcheck):
            opcheck.assert_gradients(**double("float64"))

        @pytest.mark.opcheck(xfail={"N=1": "batch of one"})
        def test_variant_xfail(opcheck):
            opcheck.assert_gradients(forward=lambda x: 2 * x, backward=wrong_at_one,
                                     inputs={"x": opcheck.Tensor(shape=("N",))})

        @pytest.mark.opcheck(xfail={"N=1": "batch of one"}, strict=False)
        def test_variant_xpass_not_strict(opcheck):
            opcheck.assert_gradients(**double("float64"))

        @pytest.mark.opcheck(skip={"N=1": "batch of one"})
        def test_variant_skip_leaves_the_rest(opcheck):
            report = opcheck.assert_gradients(forward=lambda x: 2 * x, backward=wrong_at_one,
                                              inputs={"x": opcheck.Tensor(shape=("N",))})
            assert [v.label for v in report.variants] == ["default", "N=4"]

        @pytest.mark.opcheck(skip={"N=2": "typo"})
        def test_unknown_selector(opcheck):
            opcheck.assert_gradients(**double("float64"))

        @pytest.mark.opcheck(sead=3)
        def test_unknown_marker_argument(opcheck):
            opcheck.assert_gradients(**double("float64"))
    """)
    result = pytester.runpytest("-rA")
    result.stdout.fnmatch_lines([
        "PASSED *::test_module_xfail_does_not_touch_float64",
        "PASSED *::test_variant_skip_leaves_the_rest",
        "XFAIL *::test_module_xfail_by_dtype - float32 too coarse here",
        "XFAIL *::test_variant_xfail - variant N=1: batch of one",
        ("XPASS *::test_variant_xpass_not_strict - op 'test_variant_xpass_not_strict', "
        "variant N=1: batch of one"),
        ("FAILED *::test_module_xfail_passes_strictly - AssertionError: [[]XPASS(strict)[]] op "
        "'test_module_xfail_passes_strictly': float32 too coarse here"),
        ("FAILED *::test_unknown_selector - Failed: skip selector 'N=2' of op "
        "'test_unknown_selector' matches nothing: use '*' (the whole op), a dtype name such "
        "as 'float32', one of its variant labels default, N=1, N=4, or a*"),
        ("FAILED *::test_unknown_marker_argument - Failed: @pytest.mark.opcheck got sead=; "
        "it takes only the keyword arguments seed=, mode=, xfail=, skip=, strict="),
    ])
    result.assert_outcomes(passed=2, failed=3, xfailed=2, xpassed=1)


# -- plugins from the ini file and the command line --------------------------------------


def test_ini_plugins_from_pyproject_toml(pytester: pytest.Pytester,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(mylib_ops=MYLIB, expect_ops=EXPECT)
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\nopcheck_plugins = ["mylib_ops", "expect_ops"]\n'
    )
    result = pytester.runpytest("--opcheck-ops", "mylib.square", "--opcheck-ops", "expect.known",
                                "--collect-only", "-q")
    result.stdout.fnmatch_lines(["opcheck::expect.known", "opcheck::mylib.square", "",
                                 "2 tests collected*"])


def test_an_ini_plugin_that_cannot_be_imported_is_a_collection_error(
    project: pytest.Pytester,
) -> None:
    project.makeini("[pytest]\nopcheck_plugins = mylib_ops mylib_opz\n")
    result = project.runpytest("--opcheck")
    result.stdout.fnmatch_lines([
        "*_ ERROR collecting opcheck _*",
        ("opcheck_plugins (in *tox.ini) names the plugin module 'mylib_opz', which cannot be "
         "imported: ModuleNotFoundError: No module named 'mylib_opz'; check the name and that it "
         "is on sys.path or in the rootdir *"),
        "*Interrupted: 1 error during collection*",
    ])
    assert result.ret == pytest.ExitCode.INTERRUPTED
    project.makepyfile(raising_ops="raise RuntimeError('broken at import')\n")
    project.makeini("[pytest]\nopcheck_plugins = raising_ops\n")
    raising = project.runpytest("--opcheck")
    raising.stdout.fnmatch_lines([  # found, then raised: fix the module, nothing about the path
        "*names the plugin module 'raising_ops', which was found but raised while importing: "
        "RuntimeError: broken at import (at *raising_ops.py:1); fix the module",
    ])


def test_a_command_line_plugin_that_cannot_be_imported_is_named(project: pytest.Pytester) -> None:
    result = project.runpytest("--opcheck", "--opcheck-plugin", "nowhere_ops")
    result.stdout.fnmatch_lines(["--opcheck-plugin names the plugin module 'nowhere_ops', *"])
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_pytest_p_loads_an_op_plugin_too(pytester: pytest.Pytester,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(mylib_ops=MYLIB)
    pytester.syspathinsert()
    result = pytester.runpytest("-p", "mylib_ops", "--opcheck-ops", "mylib.square", "-v")
    result.stdout.fnmatch_lines(["opcheck::mylib.square PASSED*"])
    result.assert_outcomes(passed=1)


def test_command_line_plugins_can_block_the_ini_ones(project: pytest.Pytester) -> None:
    result = project.runpytest("--opcheck", "--opcheck-plugin", "expect_ops",
                               "--opcheck-plugin", "no:mylib_ops", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["opcheck::expect.known"])
    result.stdout.no_fnmatch_line("opcheck::mylib.*")


# -- a new user's first run ---------------------------------------------------------------


def test_a_fresh_project_runs_the_fixture_and_the_builtin_ops(pytester: pytest.Pytester) -> None:
    """No ini file, no conftest: only the installed package, in a separate process."""
    pytester.makepyfile(test_relu=FIXTURE_TESTS.split("def test_sigmoid_wrong")[0])
    result = pytester.runpytest_subprocess(
        "--opcheck", "--opcheck-ops", "matmul", "--opcheck-ops", "sigmoid_affine", "-p", "no:xdist"
    )
    result.assert_outcomes(passed=3)


def test_a_passing_check_that_noticed_something_warns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_warn="""
        import numpy as np

        def scale(x, k):
            return x * k

        def test_gradient_for_an_integer_input(opcheck):
            opcheck.assert_gradients(
                forward=scale,
                backward=lambda dout, x, k: {"x": dout * k, "k": np.zeros(k.shape)},
                inputs={"x": opcheck.Tensor(shape=(3,)),
                        "k": opcheck.Tensor(shape=(3,), dtype="int64", low=1, high=4)},
            )
    """)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines([
        ("*test_warn.py:3: OpcheckWarning: op 'test_gradient_for_an_integer_input', variant "
        "default: backward returned a gradient for non-differentiable input 'k'; it is ignored"),
    ])


# -- the documentation's examples -------------------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "pytest.md"


def doc_files() -> dict[str, str]:
    """The code blocks of docs/pytest.md that carry a file name: ```python title="x.py"."""
    text = DOCS.read_text(encoding="utf-8")
    files = {}
    block = re.compile(r'^( *)```\w+ title="([^"]+)"\n(.*?)^\1```', re.DOTALL | re.MULTILINE)
    for match in block.finditer(text):
        indent, name, body = match.groups()
        files[name] = textwrap.dedent(body) if indent else body
    return files


def test_the_docs_examples_run_as_shown(pytester: pytest.Pytester,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    files = doc_files()
    assert set(files) == {"mylib_ops.py", "pytest.ini", "conftest.py", "test_gradients.py"}
    for name, body in files.items():
        (pytester.path / name).write_text(body, encoding="utf-8")
    result = pytester.runpytest("--opcheck-ops", "mylib.*", "-v")
    result.stdout.fnmatch_lines([
        "test_gradients.py::test_relu PASSED*",
        "test_gradients.py::test_a_declared_op PASSED*",
        "test_gradients.py::test_a_discovered_op_on_given_values PASSED*",
        "test_gradients.py::test_one_variant_is_known_to_fail XFAIL*",
        "opcheck::mylib.sigmoid_affine PASSED*",
        "opcheck::mylib.softplus XFAIL (issue 7: backward uses exp(x))*",
        "opcheck::mylib.standardize PASSED*",
    ])
    result.assert_outcomes(passed=5, xfailed=2)
    assert "warning" not in result.stdout.str().lower()  # each example checks something
    (pytester.path / "conftest.py").unlink()  # the failure the docs show
    result = pytester.runpytest("--opcheck-ops", "mylib.softplus", "-p", "no:cacheprovider")
    shown = DOCS.read_text(encoding="utf-8").split("opcheck mylib.softplus _")[1]
    lines = shown.split("```")[0].splitlines()[1:]
    result.stdout.fnmatch_lines(lines, consecutive=True)


def test_opcheck_budget_reaches_the_default_mode(pytester: pytest.Pytester) -> None:
    """--opcheck-budget is opcheck audit's --budget: a tiny one makes a large op sampled."""
    pytester.makepyfile(big_ops_budget=(
        "import numpy as np\nimport opcheck\n"
        "@opcheck.hookimpl\n"
        "def opcheck_ops():\n"
        "    return [opcheck.Op(name='big.tanh', forward=lambda x: np.tanh(x),\n"
        "                       backward=lambda dout, x: {'x': dout * (1 - np.tanh(x) ** 2)},\n"
        "                       inputs={'x': opcheck.Tensor(shape=(6000,))})]\n"))
    pytester.syspathinsert()
    result = pytester.runpytest("--opcheck-plugin", "big_ops_budget", "--opcheck-ops", "big.*",
                                "--opcheck-budget", "0.001", "--junitxml", "out.xml",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    xml = (pytester.path / "out.xml").read_text()
    assert 'name="opcheck_coverage"' in xml and "sampled" in xml
    result.stdout.fnmatch_lines(["*opcheck: passed on projections and a sample*",
                                 "opcheck::big.tanh: x: 4 projections + * sampled elements (of 6,000)"])
    whole = pytester.runpytest("--opcheck-plugin", "big_ops_budget", "--opcheck-ops", "big.*",
                               "-p", "no:cacheprovider")  # the default budget: every element
    whole.assert_outcomes(passed=1)
    assert "passed on projections and a sample" not in whole.stdout.str()
    pytester.makepyfile(test_fixture_budget=(
        "import numpy as np\n"
        "def test_big(opcheck):\n"
        "    opcheck.assert_gradients(name='fixture.tanh', forward=lambda x: np.tanh(x),\n"
        "        backward=lambda dout, x: {'x': dout * (1 - np.tanh(x) ** 2)},\n"
        "        inputs={'x': opcheck.Tensor(shape=(6000,))})\n"))
    fixture = pytester.runpytest("test_fixture_budget.py", "--opcheck-budget", "0.001",
                                 "-p", "no:cacheprovider")
    fixture.assert_outcomes(passed=1)
    fixture.stdout.fnmatch_lines(["*opcheck: passed on projections and a sample*",
                                  "test_fixture_budget.py::test_big: fixture.tanh: x: 4 projections + "
                                  "* sampled elements (of 6,000)"])
    bad = pytester.runpytest("--opcheck-budget", "0")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "budget (seconds > 0)" in bad.stderr.str()


def test_opcheck_budget_is_shared_among_an_items_variants_as_the_cli_shares_it(pytester: pytest.Pytester) -> None:
    """An op item's budget is the op's, shared among its variants as `opcheck audit` and
    opcheck.audit share it: a sampled failure reproduces with the same per-variant budget."""
    pytester.makepyfile(big_ops_share=(
        "import numpy as np\nimport opcheck\n"
        "@opcheck.hookimpl\n"
        "def opcheck_ops():\n"
        "    return [opcheck.Op(name='big.half', forward=lambda x: np.tanh(x),\n"
        "                       backward=lambda dout, x: {'x': dout * (1 - np.tanh(x) ** 2) / 2},\n"
        "                       inputs={'x': opcheck.Tensor(shape=('N',))}, dims={'N': 6000})]\n"))
    pytester.syspathinsert()
    import big_ops_share

    expected = opcheck.audit("big.half", plugins=[big_ops_share], budget=0.001)
    assert expected.status == "fail" and len(expected.variants) > 1
    assert "--budget 0.000" in expected.reproduce  # the default variant's part of 0.001
    result = pytester.runpytest("--opcheck-plugin", "big_ops_share", "--opcheck-ops", "big.*",
                                "--opcheck-budget", "0.001", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*Reproduce: {expected.reproduce.replace('[', '[[]')}*"])


EXITING = """
import os
import sys

import opcheck


def exits(x):
    sys.exit(3)


def os_exits(x):
    os._exit(4)


def generator_exits(x):
    raise GeneratorExit


def grad(dout, x):
    return {"x": dout}


@opcheck.hookimpl
def opcheck_ops():
    x = {"x": opcheck.Tensor(shape=(3,))}
    return [opcheck.Op(name="exiting.sys", forward=exits, backward=grad, inputs=x),
            opcheck.Op(name="exiting.os", forward=os_exits, backward=grad, inputs=x),
            opcheck.Op(name="exiting.gen", forward=generator_exits, backward=grad, inputs=x)]
"""


def test_an_op_that_exits_fails_its_item_in_a_few_lines(pytester: pytest.Pytester,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """sys.exit or os._exit in an op: its item (and a fixture test) fails with one message
    naming the op and the line, not ~900 lines through pytest, pluggy and opcheck."""
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    for name in ("CI", "BUILD_NUMBER"):  # on CI pytest prints whole messages in its summary
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(exiting_ops=EXITING, test_fixture_exit="""
def test_fixture(opcheck):
    opcheck.assert_gradients("exiting.sys")


def test_fixture_os(opcheck):
    opcheck.assert_gradients("exiting.os")


def test_the_session_goes_on():
    pass
""")
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess("--opcheck", "--opcheck-plugin", "exiting_ops",
                                           "--opcheck-ops", "exiting.*", "-p", "no:randomly")
    result.assert_outcomes(failed=5, passed=1)
    out = result.stdout.str()
    where = pytester.path / "exiting_ops.py"
    lines = (pytester.path / "exiting_ops.py").read_text().splitlines()
    sys_line, os_line = lines.index("    sys.exit(3)") + 1, lines.index("    os._exit(4)") + 1
    result.stdout.fnmatch_lines([
        f"*exiting.sys: ERROR*forward called sys.exit(3) at {where}:{sys_line}*",
        f"*exiting.os: ERROR*forward called os._exit(4) at {where}:{os_line}*"])
    assert out.count(f"forward called sys.exit(3) at {where}:{sys_line}") >= 2  # item, fixture
    assert out.count(f"forward called os._exit(4) at {where}:{os_line}") >= 2
    gen_line = lines.index("    raise GeneratorExit") + 1
    assert (f"exiting.gen: ERROR — the audit stopped: GeneratorExit (at {where}:{gen_line} in "
            "generator_exits)") in out
    assert not [p for p in ("pluggy/_", "_pytest/", "opcheck/engine.py") if p in out], out
    assert len(out.splitlines()) < 80, out


def test_option_mistakes_are_told_in_pytests_own_options(project: pytest.Pytester) -> None:
    """A file path given to --opcheck-plugin, and a missing --opcheck-baseline file: the fix
    names what exists in pytest (--opcheck-plugin NAME; opcheck audit --update-baseline)."""
    path = project.runpytest(*mylib("--opcheck-plugin", "mylib_ops.py"))
    assert path.ret != 0
    path.stdout.fnmatch_lines([("*--opcheck-plugin takes a module name, not a file path; "
                                "--opcheck-plugin mylib_ops*")])
    assert "-p mylib_ops" not in path.stdout.str()
    missing = project.runpytest(*mylib("--opcheck-baseline", "nosuch.json"))
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines([("*--opcheck-baseline nosuch.json: no such file; create it "
                                   "with opcheck audit --baseline nosuch.json --update-baseline")])


def test_a_bad_marker_argument_is_said_once(project: pytest.Pytester) -> None:
    project.makepyfile(test_marked="""
import pytest


@pytest.mark.opcheck(mode="slow")
def test_marked(opcheck):
    opcheck.assert_gradients("mylib.square")
""")
    result = project.runpytest("test_marked.py", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert out.count("mode='slow' is not a mode; use one of") == 2, out  # the failure + summary
    assert "During handling" not in out


def test_a_bad_ini_value_or_budget_is_one_usage_error_naming_it(pytester: pytest.Pytester,
                                                                monkeypatch) -> None:
    pytester.makeini("[pytest]\nopcheck_xfail_strict = maybe\n")
    result = pytester.runpytest("--opcheck-ops", "matmul", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "opcheck_xfail_strict in " in result.stderr.str() and "use true or false" in result.stderr.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    pytester.makeini("[pytest]\n")
    monkeypatch.setenv("OPCHECK_BUDGET", "abc")
    result = pytester.runpytest("--opcheck-ops", "matmul", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "OPCHECK_BUDGET='abc' is not a budget" in result.stderr.str()
    given = pytester.runpytest("--opcheck-ops", "matmul", "--opcheck-budget", "2", "-p", "no:cacheprovider")
    given.assert_outcomes(passed=1)  # the option wins over the environment


def test_no_match_names_the_listing_command_with_the_ini_plugins(pytester: pytest.Pytester) -> None:
    """`opcheck list` alone does not read the ini file: the hint names its plugins."""
    pytester.makepyfile(mylib_ops=MYLIB)
    pytester.makeini("[pytest]\nopcheck_plugins = mylib_ops\n")
    pytester.syspathinsert()
    result = pytester.runpytest("--opcheck-ops", "qqqqqq*", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*--opcheck-ops 'qqqqqq*' matches no op; the * discovered ops "
                                 "are listed by `opcheck list -p mylib_ops`*"])
