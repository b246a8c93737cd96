"""``opcheck.from_torch`` against the real torch: the gallery's verdicts (in-process, from
the command line with and without isolation, and through ``pytest --opcheck``), the
registered rule being what is audited, copies in and out, forward mode, and the errors a
torch op can make."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cli_command import OPCHECK

import opcheck
from opcheck import Op, Tensor

pytestmark = pytest.mark.torch

GALLERY = Path(__file__).resolve().parent / "gallery"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "frameworks.md"
sys.path.insert(0, str(GALLERY))
import torch_ops

MODES = ["full", "fast"]
pytest_plugins = ["pytester"]


def _run(*args: str, cwd: Path = GALLERY) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([*OPCHECK, *args], cwd=cwd, env=env, text=True, capture_output=True,
                          timeout=300, check=False)


# --- the gallery --------------------------------------------------------------------------

def test_the_gallery_has_the_bugs_the_issue_names_and_correct_ops() -> None:
    verdicts = [c.verdict for c in torch_ops.CASES]
    assert verdicts.count("pass") >= 5 and len(verdicts) - verdicts.count("pass") >= 5
    names = {c.op.name for c in torch_ops.CASES}
    assert {"torch.library_grads_swapped", "torch.contiguous_only",
            "torch.bias_add_wrong_axis"} <= names


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", [pytest.param(c, id=c.op.name) for c in torch_ops.CASES])
def test_every_gallery_op_gets_its_verdict(case, mode: str) -> None:
    report = opcheck.audit(case.op, mode=mode)
    assert report.status == case.verdict, f"{case.why}\n{report}"


def test_a_layout_bug_is_named_as_one() -> None:
    [case] = [c for c in torch_ops.CASES if c.op.name == "torch.contiguous_only"]
    report = opcheck.audit(case.op)
    assert "output 0 depends on memory layout" in report.message
    assert "non-contiguous" in report.message and ".contiguous()" in report.message


@pytest.mark.parametrize("mode", ["default", "fast"])
def test_the_command_line_gives_every_verdict_and_its_reports(mode: str, tmp_path: Path) -> None:
    mode_args = [] if mode == "default" else ["--mode", mode]
    result = _run("audit", "-p", "torch_ops", "torch.*", *mode_args, "--jobs", "2",
                  "--format", "json,junit,markdown", "-o", f"{tmp_path}/")
    assert result.returncode == 1, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    got = {entry["name"]: entry["status"] for entry in report["ops"]}
    assert got == {c.op.name: c.verdict for c in torch_ops.CASES}
    junit = (tmp_path / "report.junit.xml").read_text()
    markdown = (tmp_path / "report.md").read_text()
    for case in torch_ops.CASES:
        assert f'name="{case.op.name}"' in junit, case.op.name
        assert case.op.name.replace("_", "\\_") in markdown, case.op.name


def test_a_crashing_or_hanging_torch_op_is_one_error_entry_in_a_batch(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = _run("audit", "-p", "torch_crash_ops", "torch.*", "--jobs", "2", "--timeout", "8",
                  "--format", "json", "-o", str(out))
    assert result.returncode == 1, result.stderr
    entries = {e["name"]: e for e in json.loads(out.read_text())["ops"]}
    assert entries["torch.fine"]["status"] == "pass"
    assert entries["torch.segfault"]["status"] == "error"
    assert "SIGSEGV" in entries["torch.segfault"]["message"]
    assert entries["torch.hang"]["status"] == "error"
    assert "timed out" in entries["torch.hang"]["message"]


def test_pytest_opcheck_collects_and_judges_the_gallery(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(torch_ops=(GALLERY / "torch_ops.py").read_text())
    pytester.makeini("[pytest]\nopcheck_plugins = torch_ops\n")
    result = pytester.runpytest_subprocess("--opcheck", "--opcheck-ops", "torch.*",
                                           "-p", "no:cacheprovider", "-rA")
    outcome = {}
    for line in result.stdout.lines:
        m = re.match(r"(PASSED|FAILED|ERROR) .*?(torch\.\w+)", line)
        if m:
            outcome[m[2]] = m[1]
    expected = {c.op.name: "PASSED" if c.verdict == "pass" else "FAILED" for c in torch_ops.CASES}
    assert outcome == expected, result.stdout.str()


# --- what gets audited: the registered rule, through copies ------------------------------

def test_forward_gives_copies_that_share_no_memory_with_the_inputs() -> None:
    op = opcheck.from_torch("t.identity", lambda x: x, inputs={"x": Tensor(shape=(3,))})
    x = np.arange(3.0)
    out = op.forward(x=x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    assert not np.shares_memory(out, x) and out.flags.writeable
    grads = op.backward(dout=np.ones(3), x=x)
    assert not np.shares_memory(grads["x"], x)


def test_an_op_that_writes_into_its_input_is_caught() -> None:
    op = opcheck.from_torch("t.inplace", lambda x: x.mul_(2.0), inputs={"x": Tensor(shape=(3,))})
    report = opcheck.audit(op)
    assert report.status == "error"
    assert "mutated its input 'x'" in report.message


def test_the_backward_is_the_registered_one_not_torch_s_derivative() -> None:
    class HalfGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return torch.sin(x)

        @staticmethod
        def backward(ctx, g):
            return 0.5 * g  # wrong on purpose: cos(x) is right

    op = opcheck.from_torch("t.half", HalfGrad.apply, inputs={"x": Tensor(shape=(4,))})
    x, dout = np.linspace(-1, 1, 4), np.ones(4)
    np.testing.assert_array_equal(op.backward(dout=dout, x=x)["x"], 0.5 * dout)
    assert opcheck.audit(op).status == "fail"


def test_integer_outputs_and_inputs_are_handled_as_for_numpy_ops() -> None:
    [case] = [c for c in torch_ops.CASES if c.op.name == "torch.top2"]
    values, indices = case.op.forward(x=np.arange(8.0).reshape(2, 4))
    assert values.dtype == np.float64 and indices.dtype == np.int64
    grads = case.op.backward(dout=(np.ones((2, 2)), None), x=np.arange(8.0).reshape(2, 4))
    np.testing.assert_array_equal(grads["x"], [[0, 0, 1, 1], [0, 0, 1, 1]])
    [gather] = [c for c in torch_ops.CASES if c.op.name == "torch.gather_rows"]
    assert gather.op.differentiable_inputs == ("table",)


def test_float16_inputs_reach_fn_as_float16_tensors() -> None:
    seen = []

    def fn(x):
        seen.append(x.dtype)
        return x * x

    op = opcheck.from_torch("t.square16", fn, inputs={"x": Tensor(shape=(4,), dtype="float16")})
    assert opcheck.audit(op).status == "pass"
    assert set(seen) == {torch.float16}


def test_a_bfloat16_output_is_refused_with_the_way_out() -> None:
    op = opcheck.from_torch("t.bf16", lambda x: (x * 2).bfloat16(), inputs={"x": Tensor(shape=(3,))})
    report = opcheck.audit(op)
    assert report.status == "error"
    assert "bfloat16" in report.message and "float32" in report.message
    assert "raised" not in report.message and not report.variants[0].traceback  # a refusal, not a crash


def test_an_output_that_is_not_a_tensor_is_named() -> None:
    op = opcheck.from_torch("t.list", lambda x: x.tolist(), inputs={"x": Tensor(shape=(3,))})
    report = opcheck.audit(op)
    assert report.status == "error" and "from_torch expects a torch.Tensor" in report.message


# --- forward mode -------------------------------------------------------------------------

def _scaled_exp() -> Op:
    [case] = [c for c in torch_ops.CASES if c.op.name == "torch.scaled_exp"]
    return case.op


def test_jvp_is_on_for_a_function_that_defines_one_and_off_otherwise() -> None:
    assert _scaled_exp().jvp is not None
    for case in torch_ops.CASES:
        if case.op.name in ("torch.library_mul_add", "torch.gelu_tanh_f32", "torch.top2"):
            assert case.op.jvp is None, case.op.name
    forced = opcheck.from_torch("t.sin", torch.sin, inputs={"input": Tensor(shape=(3,))}, jvp=True)
    assert forced.jvp is not None


def _central_jvp(op: Op, values: dict, tangents: dict, h: float = 1e-6) -> np.ndarray:
    plus = op.forward(**{k: v + h * tangents.get(k, 0) for k, v in values.items()})
    minus = op.forward(**{k: v - h * tangents.get(k, 0) for k, v in values.items()})
    return (plus - minus) / (2 * h)


def test_jvp_agrees_with_finite_differences_and_with_the_vjp() -> None:
    op = _scaled_exp()
    rng = np.random.default_rng(0)
    values = {"x": rng.uniform(-1, 1, 5), "a": np.array(1.3)}
    tangents = {"x": rng.standard_normal(5), "a": np.array(0.7)}
    jvp = op.jvp(tangents=tangents, **values)
    np.testing.assert_allclose(jvp, _central_jvp(op, values, tangents), rtol=1e-7)
    # The dot-product identity: <J t, u> == <t, J^T u>.
    u = rng.standard_normal(5)
    grads = op.backward(dout=u, **values)
    assert np.dot(jvp, u) == pytest.approx(sum(np.sum(tangents[k] * grads[k]) for k in grads),
                                           rel=1e-12)


def test_a_jvp_audit_under_w_error_meets_no_warning_of_torchs_own() -> None:
    """torch 2.13 loads its jvp decompositions through the deprecated torch.jit.script on
    the first forward-mode call: in a fresh process under -W error that must not turn a
    correct op's audit into an error."""
    code = ("import opcheck, torch\n"
            "from opcheck import Tensor\n"
            "op = opcheck.from_torch('t.sin', torch.sin, inputs={'input': Tensor(shape=(3,))},"
            " jvp=True)\n"
            "report = opcheck.audit(op)\n"
            "assert report.status == 'pass', report.message\n"
            "print([i.check for i in report.variants[0].inputs])\n")
    done = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", code],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "'jvp'" in done.stdout


def test_a_wrong_jvp_rule_is_what_the_jvp_returns() -> None:
    class WrongJvp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.x = x
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g * 2 * ctx.x

        @staticmethod
        def jvp(ctx, t):
            return ctx.x * t  # Bug: factor 2 missing

    op = opcheck.from_torch("t.wrong_jvp", WrongJvp.apply, inputs={"x": Tensor(shape=(4,))})
    values, tangents = {"x": np.linspace(0.5, 2, 4)}, {"x": np.ones(4)}
    numeric = _central_jvp(op, values, tangents)
    np.testing.assert_allclose(op.jvp(tangents=tangents, **values), numeric / 2, rtol=1e-7)


# --- declarations -------------------------------------------------------------------------

def test_other_op_fields_pass_through_and_the_adapter_s_own_are_refused() -> None:
    op = opcheck.from_torch("t.sin2", torch.sin, inputs={"input": Tensor(shape=(3,))},
                            description="sine", rtol=1e-5)
    assert op.description == "sine" and op.rtol == 1e-5
    with pytest.raises(TypeError, match=r"\['backward'\] are set by the adapter"):
        opcheck.from_torch("t.sin3", torch.sin, inputs={"input": Tensor(shape=(3,))},
                           backward=lambda dout, input: {"input": dout})


def test_a_bad_declaration_names_the_op_and_field() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"Op 't\.bad'") as info:
        opcheck.from_torch("t.bad", torch.sin, inputs={"input": Tensor(shape=("N",))},
                           dims={"M": 2})
    assert "dims" in str(info.value)


def test_attrs_reach_fn_by_keyword_or_are_refused_until_op_has_attrs() -> None:
    def scale(x, factor):
        return x * factor

    inputs = {"x": Tensor(shape=(3,))}
    if "attrs" not in Op.model_fields:
        with pytest.raises(TypeError, match="no Op.attrs yet"):
            opcheck.from_torch("t.scale", scale, inputs=inputs, attrs={"factor": [2.0, 3.0]})
        return
    op = opcheck.from_torch("t.scale", scale, inputs=inputs, attrs={"factor": [2.0, 3.0]})
    np.testing.assert_array_equal(op.forward(x=np.ones(3), factor=3.0), 3.0 * np.ones(3))
    assert opcheck.audit(op).status == "pass"


# --- the documentation's example ---------------------------------------------------------

def test_the_docs_torch_example_runs_and_audits_green(tmp_path: Path, monkeypatch) -> None:
    m = re.search(r"<!-- example: torch -->\s*```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert m, "docs/frameworks.md lost its torch example"
    (tmp_path / "docs_torch_ops.py").write_text(m[1])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = opcheck.discover(["docs_torch_ops"])
    assert registry.errors == []
    mine = [n for n, info in registry.plugin_of.items() if info.name == "docs_torch_ops"]
    assert mine
    for name in mine:
        assert opcheck.audit(registry[name]).status == "pass", name
