"""``opcheck.from_jax`` against the real JAX: the gallery's verdicts (in-process, from the
command line and through ``pytest --opcheck``), custom_vjp/custom_jvp rules being what is
audited, float64 without touching the user's JAX config, compiling once per shape, and
forward mode."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")

import jax.numpy as jnp
from cli_command import OPCHECK

import opcheck
from opcheck import Op, Tensor

pytestmark = pytest.mark.jax
pytest_plugins = ["pytester"]

GALLERY = Path(__file__).resolve().parent / "gallery"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "frameworks.md"
sys.path.insert(0, str(GALLERY))
import jax_ops

MODES = ["full", "fast"]


def _case(name: str):
    [case] = [c for c in jax_ops.CASES if c.op.name == name]
    return case


# --- the gallery --------------------------------------------------------------------------

def test_the_gallery_has_the_bugs_the_issue_names_and_correct_ops() -> None:
    verdicts = [c.verdict for c in jax_ops.CASES]
    assert verdicts.count("pass") >= 4 and len(verdicts) - verdicts.count("pass") >= 4
    assert _case("jax.custom_vjp_ignores_residual").verdict == "fail"
    assert _case("jax.custom_jvp_wrong_factor").verdict == "fail"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", [pytest.param(c, id=c.op.name) for c in jax_ops.CASES])
def test_every_gallery_op_gets_its_verdict(case, mode: str) -> None:
    report = opcheck.audit(case.op, mode=mode)
    assert report.status == case.verdict, f"{case.why}\n{report}"


@pytest.mark.parametrize("mode", ["default", "fast"])
def test_the_command_line_gives_every_verdict(mode: str, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONPATH", None)
    mode_args = [] if mode == "default" else ["--mode", mode]
    result = subprocess.run(
        [*OPCHECK, "audit", "-p", "jax_ops", "jax.*", *mode_args, "--jobs", "2",
         "--format", "json", "-o", str(out)],
        cwd=GALLERY, env=env, text=True, capture_output=True, timeout=300, check=False)
    assert result.returncode == 1, result.stderr
    got = {entry["name"]: entry["status"] for entry in json.loads(out.read_text())["ops"]}
    assert got == {c.op.name: c.verdict for c in jax_ops.CASES}


def test_pytest_opcheck_collects_and_judges_the_gallery(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(jax_ops=(GALLERY / "jax_ops.py").read_text())
    pytester.makeini("[pytest]\nopcheck_plugins = jax_ops\n")
    result = pytester.runpytest_subprocess("--opcheck", "--opcheck-ops", "jax.*",
                                           "--opcheck-mode", "fast", "-p", "no:cacheprovider", "-rA")
    outcome = {}
    for line in result.stdout.lines:
        m = re.match(r"(PASSED|FAILED|ERROR) .*?(jax\.\w+)", line)
        if m:
            outcome[m[2]] = m[1]
    expected = {c.op.name: "PASSED" if c.verdict == "pass" else "FAILED" for c in jax_ops.CASES}
    assert outcome == expected, result.stdout.str()


# --- what gets audited ----------------------------------------------------------------------

def test_the_custom_vjp_rule_is_what_backward_returns() -> None:
    op = _case("jax.custom_vjp_ignores_residual").op
    x, y, g = np.array([2.0]), np.array([0.3]), np.array([1.0])
    grads = op.backward(dout=g, x=x, y=y)
    np.testing.assert_allclose(grads["y"], g * x)  # the buggy rule, not x * cos(y)
    np.testing.assert_allclose(grads["x"], np.sin(y))


def test_float64_is_kept_without_changing_the_user_s_jax_config() -> None:
    before = jax.config.jax_enable_x64
    op = opcheck.from_jax("j.double", lambda x: x * 2.0, inputs={"x": Tensor(shape=(3,))})
    out = op.forward(x=np.array([1.0, 1.0 + 1e-12, 3.0]))
    assert out.dtype == np.float64 and out[1] != 2.0  # 1 + 1e-12 survives: no float32 trip
    assert op.backward(dout=np.ones(3), x=np.ones(3))["x"].dtype == np.float64
    assert jax.config.jax_enable_x64 == before
    assert jnp.asarray(np.ones(2)).dtype == (np.float64 if before else np.float32)


def test_outputs_are_writable_numpy_copies() -> None:
    op = opcheck.from_jax("j.id", lambda x: x, inputs={"x": Tensor(shape=(3,))})
    x = np.arange(3.0)
    out = op.forward(x=x)
    assert type(out) is np.ndarray and out.flags.writeable and not np.shares_memory(out, x)


def test_the_forward_is_compiled_once_per_shape_not_per_call() -> None:
    traces = []

    def fn(x, w):
        traces.append((x.shape, w.shape))  # runs only when JAX traces (compiles) fn
        return jnp.tanh(x @ w)

    op = opcheck.from_jax("j.count", fn, inputs={"x": Tensor(shape=("N", "D")),
                                                 "w": Tensor(shape=("D", "M"))}, jvp=False)
    x, w = np.ones((3, 4)), np.ones((4, 5))
    for k in range(20):
        op.forward(x=x + k, w=w)
    assert traces == [((3, 4), (4, 5))]
    op.forward(x=np.ones((2, 4)), w=w)
    assert len(traces) == 2


def test_integer_outputs_and_inputs_are_handled_as_for_numpy_ops() -> None:
    op = _case("jax.max_and_argmax").op
    x = np.array([[1.0, 3.0, 2.0]])
    values, index = op.forward(x=x)
    assert values.dtype == np.float64 and index.dtype.kind == "i"
    np.testing.assert_array_equal(op.backward(dout=(np.ones(1), None), x=x)["x"], [[0, 1, 0]])
    assert _case("jax.take_rows").op.differentiable_inputs == ("table",)


def test_a_bfloat16_output_is_refused_with_the_way_out() -> None:
    op = opcheck.from_jax("j.bf16", lambda x: (x * 2).astype(jnp.bfloat16),
                          inputs={"x": Tensor(shape=(3,))}, jvp=False)
    report = opcheck.audit(op)
    assert report.status == "error" and "bfloat16" in report.message
    assert "raised" not in report.message and not report.variants[0].traceback  # a refusal, not a crash


# --- forward mode -----------------------------------------------------------------------------

def test_jvp_is_there_unless_fn_is_a_custom_vjp() -> None:
    assert _case("jax.custom_vjp_ignores_residual").op.jvp is None
    assert _case("jax.take_rows").op.jvp is None
    assert _case("jax.custom_jvp_wrong_factor").op.jvp is not None
    assert _case("jax.gelu_f32").op.jvp is not None
    off = opcheck.from_jax("j.off", lambda x: jnp.sin(x), inputs={"x": Tensor(shape=(3,))}, jvp=False)
    assert off.jvp is None


def _central_jvp(op: Op, values: dict, tangents: dict, h: float = 1e-6) -> np.ndarray:
    plus = op.forward(**{k: v + h * tangents[k] for k, v in values.items()})
    minus = op.forward(**{k: v - h * tangents[k] for k, v in values.items()})
    return (plus - minus) / (2 * h)


def test_jvp_agrees_with_finite_differences_and_with_the_vjp() -> None:
    op = opcheck.from_jax("j.tanh_mm", lambda x, w: jnp.tanh(x @ w),
                          inputs={"x": Tensor(shape=(3, 4)), "w": Tensor(shape=(4, 2))})
    rng = np.random.default_rng(0)
    values = {"x": rng.uniform(-1, 1, (3, 4)), "w": rng.uniform(-1, 1, (4, 2))}
    tangents = {k: rng.standard_normal(v.shape) for k, v in values.items()}
    jvp = op.jvp(tangents=tangents, **values)
    np.testing.assert_allclose(jvp, _central_jvp(op, values, tangents), rtol=1e-6)
    u = rng.standard_normal((3, 2))
    grads = op.backward(dout=u, **values)
    assert np.sum(jvp * u) == pytest.approx(sum(np.sum(tangents[k] * grads[k]) for k in grads),
                                            rel=1e-12)


def test_the_custom_jvp_rule_is_what_jvp_returns() -> None:
    op = _case("jax.custom_jvp_wrong_factor").op
    rng = np.random.default_rng(1)
    values = {"x": rng.uniform(-1, 1, (2, 3))}
    tangents = {"x": rng.standard_normal((2, 3))}
    numeric = _central_jvp(op, values, tangents)
    np.testing.assert_allclose(op.jvp(tangents=tangents, **values), 2 * numeric, rtol=1e-6)


def test_jvp_of_an_integer_output_is_none() -> None:
    op = _case("jax.max_and_argmax").op
    tangent, none = op.jvp(x=np.array([[1.0, 3.0]]), tangents={"x": np.ones((1, 2))})
    assert none is None and tangent.shape == (1,)


# --- declarations -------------------------------------------------------------------------

def test_attrs_reach_fn_as_static_values_or_are_refused_until_op_has_attrs() -> None:
    def power(x, p):
        return x ** p  # p static: an int exponent under jit

    inputs = {"x": Tensor(shape=(3,), low=0.5, high=2.0)}
    if "attrs" not in Op.model_fields:
        with pytest.raises(TypeError, match="no Op.attrs yet"):
            opcheck.from_jax("j.pow", power, inputs=inputs, attrs={"p": [2, 3]})
        return
    op = opcheck.from_jax("j.pow", power, inputs=inputs, attrs={"p": [2, 3]})
    np.testing.assert_allclose(op.forward(x=np.full(3, 2.0), p=3), np.full(3, 8.0))
    assert opcheck.audit(op).status == "pass"


def test_the_docs_jax_example_runs_and_audits_green(tmp_path: Path, monkeypatch) -> None:
    m = re.search(r"<!-- example: jax -->\s*```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert m, "docs/frameworks.md lost its JAX example"
    (tmp_path / "docs_jax_ops.py").write_text(m[1])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = opcheck.discover(["docs_jax_ops"])
    assert registry.errors == []
    mine = [n for n, info in registry.plugin_of.items() if info.name == "docs_jax_ops"]
    assert mine
    for name in mine:
        assert opcheck.audit(registry[name]).status == "pass", name


def test_an_fn_that_jit_cannot_trace_runs_eagerly_as_its_author_runs_it() -> None:
    def clipped(x):
        if jnp.max(x) > 10.0:  # Python control flow on a value: fine eagerly only
            return x * 0.0
        return jnp.sin(x) * x

    op = opcheck.from_jax("j.eager", clipped, inputs={"x": Tensor(shape=("N",))}, jvp=True)
    report = opcheck.audit(op)
    assert report.status == "pass", str(report)
    x = np.linspace(-1, 1, 3)
    np.testing.assert_allclose(op.jvp(x=x, tangents={"x": np.ones(3)}), np.cos(x) * x + np.sin(x))


COMPLEX = Tensor(shape=("N",), dtype="complex128")
COMPLEX_FNS = {
    "abs2": (lambda z: jnp.abs(z) ** 2, {"z": COMPLEX}),  # complex in, real out
    "holomorphic": (lambda z: z * z * (1 + 2j), {"z": COMPLEX}),
    "real_in": (lambda x: x * (1 + 2j), {"x": Tensor(shape=("N",))}),  # real in, complex out
    "conj_product": (lambda z, w: jnp.conj(z) * w, {"z": COMPLEX, "w": COMPLEX}),
}


@pytest.mark.parametrize("kind", sorted(COMPLEX_FNS))
def test_complex_ops_are_audited_in_opcheck_s_convention(kind: str) -> None:
    fn, inputs = COMPLEX_FNS[kind]
    op = opcheck.from_jax(f"j.{kind}", fn, inputs=inputs, dims={"N": 3})
    report = opcheck.audit(op, mode="full")
    assert report.status == "pass", report.message
    assert any(i.check == "backward" for v in report.variants for i in v.inputs)


def test_a_complex_gradient_is_the_one_torch_gives_for_the_same_function() -> None:
    torch = pytest.importorskip("torch")
    inputs = {"z": COMPLEX, "w": COMPLEX}
    from_jax = opcheck.from_jax("j.cp", lambda z, w: jnp.conj(z) * w, inputs=inputs, dims={"N": 3})
    from_torch = opcheck.from_torch("t.cp", lambda z, w: torch.conj(z) * w, inputs=inputs,
                                    dims={"N": 3})
    rng = np.random.default_rng(0)
    z, w, dout = (rng.normal(size=3) + 1j * rng.normal(size=3) for _ in range(3))
    got, want = (op.backward(dout=dout, z=z, w=w) for op in (from_jax, from_torch))
    for name in ("z", "w"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12)
    np.testing.assert_allclose(got["z"], np.conj(dout) * w)  # dL/dRe z + i dL/dIm z


@pytest.mark.parametrize(("factor", "status"), [(2 + 1j, "pass"), (2 - 1j, "fail")])
def test_a_custom_vjp_rule_is_judged_in_jax_s_own_convention(factor: complex, status: str) -> None:
    @jax.custom_vjp
    def scale(z):
        return z * (2 + 1j)

    def fwd(z):
        return scale(z), None

    def bwd(_, ct):
        return (ct * factor,)  # JAX's rule is ct * (2 + 1j); its conjugate is a bug

    scale.defvjp(fwd, bwd)
    report = opcheck.audit(opcheck.from_jax("j.scale", scale, inputs={"z": COMPLEX}, dims={"N": 3}),
                           mode="full")
    assert report.status == status
    if status == "fail":
        assert "input 'z'" in report.message


def test_a_function_named_by_a_string_says_to_pass_the_function():
    import opcheck

    with pytest.raises(TypeError, match=r"fn must be callable, e\.g\. a function of jax\.numpy "
                                         r"arrays \(jnp\.sin, not 'jnp\.sin'\)"):
        opcheck.from_jax("t.x", fn="jnp.sin", inputs={"x": opcheck.Tensor(shape=("N",))})
