"""The built-in op library (plugins/): discovery, a green audit for every op, the two conv2d
implementations against each other, closed-form forward values, and docs/ops.md kept
current with the declarations."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import opcheck_plugins
import pytest
from opcheck_plugins import conv, elementwise, indexing, losses, normalization, pooling, softmax

import opcheck

ROOT = Path(__file__).resolve().parent.parent
MIN_BUILTIN_OPS = 32


def _builtin_ops() -> dict[str, opcheck.Op]:
    """Op name → Op, straight from the built-in modules' declarations."""
    ops: dict[str, opcheck.Op] = {}
    for short in opcheck_plugins.MODULES:
        module = importlib.import_module(f"opcheck_plugins.{short}")
        for op in module.opcheck_ops():
            ops[op.name] = op
    return ops


BUILTIN_OPS = _builtin_ops()
FLOAT32_OPS = [name for name in BUILTIN_OPS if name.endswith(".float32")]


@pytest.fixture(autouse=True)
def _no_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the built-ins, whatever else is installed."""
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_ops_doc", ROOT / "scripts" / "gen_ops_doc.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- discovery and audit -----------------------------------------------------------------


def test_at_least_32_builtin_ops_are_discovered() -> None:
    registry = opcheck.discover()
    assert not registry.errors
    assert len(BUILTIN_OPS) >= MIN_BUILTIN_OPS
    assert set(BUILTIN_OPS) <= set(registry)


def test_opcheck_list_shows_the_builtin_ops() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "opcheck", "list"], capture_output=True, text=True, check=True
    )
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert set(BUILTIN_OPS) <= listed
    assert len(listed) >= MIN_BUILTIN_OPS


def test_every_builtin_op_has_a_description() -> None:
    assert [name for name, op in BUILTIN_OPS.items() if not op.description] == []


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(BUILTIN_OPS))
def test_builtin_op_passes_the_audit(name: str, seed: int) -> None:
    report = opcheck.audit(BUILTIN_OPS[name], seed=seed, mode="full")
    assert report.status == "pass", report.message


@pytest.mark.parametrize("name", FLOAT32_OPS)
def test_float32_twin_stays_float32(name: str) -> None:
    from opcheck.binding import bind

    declared = BUILTIN_OPS[name]
    op = bind(declared, {k: v[0] for k, v in declared.attrs.items()})  # as the audit calls it
    rng = np.random.default_rng(0)
    dims = op.default_dims()
    inputs = {}
    for input_name, tensor in op.inputs.items():
        shape = tensor.concrete_shape(dims)
        if tensor.dtype == "float32":
            inputs[input_name] = rng.uniform(*tensor.bounds, size=shape).astype(np.float32)
        else:
            inputs[input_name] = rng.integers(0, 2, size=shape).astype(tensor.dtype)
    out = np.asarray(op.forward(**inputs))
    assert out.dtype == np.float32
    extra = {"out": out} if op.backward_takes_out() else {}
    grads = op.backward(dout=np.ones_like(out), **inputs, **extra)
    assert {k: np.asarray(g).dtype for k, g in grads.items()} == {
        k: np.dtype(np.float32) for k in op.differentiable_inputs
    }


# -- conv2d: naive and im2col agree ------------------------------------------------------


@pytest.mark.parametrize("stride, pad", [(1, 1), (2, 0), (1, 0), (2, 1), (3, 2)])
@pytest.mark.parametrize("seed", range(3))
def test_conv2d_naive_and_im2col_agree(stride: int, pad: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, c, f = rng.integers(1, 4, size=3)
    h, w, kh, kw = 7, 6, 3, 2
    x = rng.standard_normal((n, c, h, w))
    weight = rng.standard_normal((f, c, kh, kw))
    b = rng.standard_normal(f)
    naive = conv.conv2d_naive(x, weight, b, stride, pad)
    fast = conv.conv2d_im2col(x, weight, b, stride, pad)
    assert naive.shape == (
        n,
        f,
        conv.output_size(h, kh, stride, pad),
        conv.output_size(w, kw, stride, pad),
    )
    np.testing.assert_allclose(fast, naive, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(naive.shape)
    for got, want in zip(
        conv.conv2d_im2col_grads(dout, x, weight, stride, pad),
        conv.conv2d_naive_grads(dout, x, weight, stride, pad),
    ):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_conv2d_with_a_centred_delta_kernel_is_the_identity() -> None:
    x = np.random.default_rng(0).standard_normal((2, 1, 5, 5))
    delta = np.zeros((1, 1, 3, 3))
    delta[0, 0, 1, 1] = 1.0
    for impl in (conv.conv2d_naive, conv.conv2d_im2col):
        np.testing.assert_allclose(impl(x, delta, np.zeros(1), 1, 1), x)


# -- closed forms ------------------------------------------------------------------------

X = np.random.default_rng(7).uniform(-2.0, 2.0, size=(4, 5))


@pytest.mark.parametrize("axis", [0, 1])
def test_softmax_sums_to_one_and_log_softmax_is_its_log(axis: int) -> None:
    probs = softmax.softmax(X, axis)
    np.testing.assert_allclose(probs.sum(axis=axis), 1.0)
    np.testing.assert_allclose(softmax.log_softmax(X, axis), np.log(probs))


def test_softmax_is_stable_for_large_logits() -> None:
    probs = softmax.softmax(np.array([[1000.0, 1000.0]]), axis=1)
    np.testing.assert_allclose(probs, [[0.5, 0.5]])


def test_elementwise_closed_forms() -> None:
    assert elementwise.gelu(np.array(0.0)) == 0.0
    np.testing.assert_allclose(elementwise.gelu(np.array([10.0, -10.0])), [10.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(
        elementwise.sigmoid(np.array([0.0, 2.0])), [0.5, 1 / (1 + np.exp(-2.0))]
    )
    np.testing.assert_allclose(elementwise.elu(np.array([-1.0, 2.0])), [np.exp(-1.0) - 1.0, 2.0])
    np.testing.assert_allclose(elementwise.leaky_relu(np.array([-2.0, 3.0])), [-0.02, 3.0])


def test_hinge_loss_of_a_perfectly_separated_example_is_zero() -> None:
    scores = np.array([[3.0, 1.0, 0.5, -1.0]])
    labels = np.array([0])
    assert losses.multiclass_hinge_forward(scores, labels) == 0.0
    grads = losses.multiclass_hinge_backward(np.asarray(1.0), scores, labels)
    np.testing.assert_array_equal(grads["scores"], 0.0)


def test_hinge_loss_counts_each_violated_margin() -> None:
    scores = np.array([[1.0, 1.5, 0.0, -3.0]])  # margins: -, 1.5, 0, 0 (the last clipped)
    assert losses.multiclass_hinge_forward(scores, np.array([0])) == pytest.approx(1.5)


def test_cross_entropy_of_uniform_logits_is_log_num_classes() -> None:
    loss = losses.softmax_cross_entropy_forward(np.zeros((3, 4)), np.array([0, 1, 3]))
    assert loss == pytest.approx(np.log(4.0))


def test_batchnorm_output_is_standardised_per_feature() -> None:
    out = normalization.batchnorm_forward(X, np.ones(5), np.zeros(5))
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=0), 1.0, rtol=1e-3)


def test_max_pool_routes_a_tie_to_the_first_maximal_element() -> None:
    x = np.zeros((1, 1, 4, 4))  # every window is a four-way tie
    dx = pooling.max_pool_grad(np.ones((1, 1, 2, 2)), x, 2, 2)
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1.0  # the top-left element of each window
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_embedding_accumulates_gradients_of_repeated_ids() -> None:
    ids = np.array([1, 1, 3])
    grads = indexing.embedding_backward(np.ones((3, 2)), ids, np.zeros((indexing.VOCAB, 2)))
    np.testing.assert_array_equal(grads["weight"][:, 0], [0.0, 2.0, 0.0, 1.0, 0.0])


def test_split_then_concatenate_round_trips() -> None:
    x = np.arange(12.0).reshape(2, 6)
    parts = indexing.split_forward(x)
    assert [p.shape[1] for p in parts] == list(indexing.SPLIT_SIZES)
    np.testing.assert_array_equal(indexing.concatenate_forward(*parts), x)


# -- docs/ops.md -------------------------------------------------------------------------


def test_ops_doc_is_current() -> None:
    committed = (ROOT / "docs" / "ops.md").read_text(encoding="utf-8")
    assert committed == _load_script().render(), (
        "docs/ops.md is out of date: run `python scripts/gen_ops_doc.py`"
    )


def test_ops_doc_lists_every_builtin_op() -> None:
    text = _load_script().render()
    missing = [name for name in BUILTIN_OPS if f"### `{name}`" not in text]
    assert missing == []


def test_builtin_ops_declare_forward_mode_second_order_and_complex_rules() -> None:
    ops = _builtin_ops()
    with_jvp = {n for n, op in ops.items() if op.jvp is not None}
    with_second = {n for n, op in ops.items() if op.double_backward is not None}
    assert len(with_jvp) >= 12 and {"matmul", "softmax.axis1", "layernorm", "tanh",
                                     "conv2d_naive"} <= with_jvp
    assert len(with_second) >= 5 and {"tanh", "sigmoid", "matmul", "softmax.axis1",
                                       "mse"} <= with_second
    complex_ops = {n for n, op in ops.items()
                   if any(t.dtype.startswith("complex") for t in op.inputs.values())}
    assert {"complex.multiply", "complex.abs2", "complex.exp", "complex.matmul"} <= complex_ops
    assert ops["complex.matmul"].inputs["x"].dtype == "complex128"
