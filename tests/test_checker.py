"""The per-input comparison: tolerances, outcomes, fast mode, batching, what the report shows."""

from __future__ import annotations

import numpy as np
import pytest

import opcheck
from opcheck import Op, Tensor


def _tanh(name: str = "t.tanh", factor: float = 1.0, dtype: str = "float64", **fields) -> Op:
    return Op(
        name=name, forward=lambda x: np.tanh(x),
        backward=lambda dout, out, x: {"x": (factor * dout * (1 - out * out)).astype(x.dtype)},
        inputs={"x": Tensor(shape=("N",), dtype=dtype)}, dims={"N": 20}, **fields,
    )


@pytest.mark.parametrize(
    "dtype, rtol", [("float64", 1.5e-6), ("float32", 1.2e-3), ("float16", 2.5e-2)]
)
def test_tolerance_follows_the_dtype_and_is_reported(dtype: str, rtol: float) -> None:
    report = opcheck.audit(_tanh(dtype=dtype), variant="default")
    item = report.variants[0].inputs[0]
    assert report.status == "pass"
    assert item.rtol == pytest.approx(rtol, rel=0.05)
    assert isinstance(item.rtol, float)  # plain floats: reports serialise to JSON


def test_an_op_can_override_the_tolerance() -> None:
    # A 1e-4 error fails at the default float64 tolerance and passes at rtol=1e-3.
    assert opcheck.audit(_tanh(factor=1.0001)).status == "fail"
    loose = opcheck.audit(_tanh(factor=1.0001, rtol=1e-3))
    assert loose.status == "pass" and loose.variants[0].inputs[0].rtol == 1e-3


def test_fast_mode_falls_back_to_full_mode_to_name_the_elements() -> None:
    report = opcheck.audit(_tanh(factor=1.01), mode="fast", variant="default")
    item = report.variants[0].inputs[0]
    assert report.status == "fail"
    assert item.counts["fail"] == 20  # element-wise counts: the full check ran
    assert len(item.mismatches) == 5 and item.worst is not None


def test_fast_mode_pass_uses_projections_not_elements() -> None:
    report = opcheck.audit(_tanh(), mode="fast", variant="default")
    item = report.variants[0].inputs[0]
    assert report.status == "pass" and "projections" in item.method
    assert sum(item.counts.values()) == 0


def test_verified_batching_is_used_and_reported() -> None:
    item = opcheck.audit(_tanh(), variant="default").variants[0].inputs[0]
    assert item.method == "batched"
    mixing = Op(name="t.center", forward=lambda x: x - x.mean(),
                backward=lambda dout, x: {"x": dout - dout.mean()},
                inputs={"x": Tensor(shape=(6,))})
    report = opcheck.audit(mixing)
    assert report.status == "pass" and report.variants[0].inputs[0].method == "loop"


def test_every_element_gets_an_error_estimate_and_a_step() -> None:
    item = opcheck.audit(_tanh(), variant="default").variants[0].inputs[0]
    assert 0 < item.max_error_estimate < 1e-6
    assert item.step_min == item.step_max == 2.0**-17  # eps^(1/3) rounded to a power of two


def test_one_sided_steps_near_a_bound_are_counted() -> None:
    op = Op(name="t.sq", forward=lambda x: np.exp(x), backward=lambda dout, out, x: {"x": dout * out},
            inputs={"x": Tensor(shape=(3,), low=0.0, high=1.0)})
    report = opcheck.audit(op, inputs={"x": np.array([1e-7, 0.5, 1.0 - 1e-7])})
    item = report.variants[0].inputs[0]
    assert item.one_sided == 2 and item.counts["pass"] == 3


def test_kinks_are_noted_in_the_text_report() -> None:
    op = Op(name="t.relu", forward=lambda x: np.maximum(x - 0.5, 0.0),
            backward=lambda dout, x: {"x": dout * (x > 0.5)},
            inputs={"x": Tensor(shape=(200,), low=0.5 - 1e-5, high=0.5 + 1e-5)})
    report = opcheck.audit(op)
    item = report.variants[0].inputs[0]
    assert report.status == "pass" and item.counts["nondifferentiable"] > 0
    assert "kink" in str(report)
    # Kinks are not compared, so they do not enter the seed's max_rel_error.
    assert report.max_rel_error is not None and report.max_rel_error < 1e-6


def test_a_subgradient_outside_the_one_sided_slopes_fails() -> None:
    op = Op(name="t.relu_bad", forward=lambda x: np.maximum(x - 0.5, 0.0),
            backward=lambda dout, x: {"x": dout * np.where(x > 0.5, 1.0, 3.0)},
            inputs={"x": Tensor(shape=(50,), low=0.5 - 1e-5, high=0.5 + 1e-5)})
    assert opcheck.audit(op).status == "fail"


def test_a_failing_input_keeps_every_elements_error_for_the_heat_map() -> None:
    # Wrong by 1% right of the kink; elements sampled at the kink are not compared.
    op = Op(name="t.relu_off", forward=lambda x: np.maximum(x - 0.5, 0.0),
            backward=lambda dout, x: {"x": dout * (x > 0.5) * 1.01},
            inputs={"x": Tensor(shape=(10, 20), low=0.5 - 1e-5, high=0.5 + 1e-5)})
    item = opcheck.audit(op, variant="default").variants[0].inputs[0]
    assert item.status == "fail" and item.abs_errors is not None
    assert len(item.abs_errors) == 200
    assert sum(v is None for v in item.abs_errors) == (
        item.counts["nondifferentiable"] + item.counts["unreliable"])
    assert max(v for v in item.abs_errors if v is not None) == item.max_abs_error
    worst = item.mismatches[0]
    assert item.abs_errors[worst.index[0] * 20 + worst.index[1]] == worst.abs_error
    assert opcheck.audit(_tanh()).variants[0].inputs[0].abs_errors is None  # passing: none


def test_an_input_too_large_for_the_heat_map_keeps_only_its_worst_elements(monkeypatch) -> None:
    from opcheck import summary

    monkeypatch.setattr(summary, "HEATMAP_ELEMENTS", 10)
    item = opcheck.audit(_tanh(factor=1.01), variant="default").variants[0].inputs[0]
    assert item.status == "fail" and item.abs_errors is None and item.mismatches


def test_failure_names_the_variant_seed_and_a_reproducing_command(tmp_path, monkeypatch) -> None:
    (tmp_path / "gallery_plugin.py").write_text(
        "import numpy as np, opcheck\n"
        "@opcheck.hookimpl\n"
        "def opcheck_ops():\n"
        "    return [opcheck.Op(name='g.bias', forward=lambda x, b: x + b,\n"
        "        backward=lambda dout, x, b: {'x': dout, 'b': dout[0]},\n"
        "        inputs={'x': opcheck.Tensor(shape=('N', 'M')), 'b': opcheck.Tensor(shape=('M',))})]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    report = opcheck.audit("g.bias", plugins=["gallery_plugin"], seed=5)
    assert report.status == "fail"
    assert report.reproduce == "opcheck audit g.bias -p gallery_plugin --seed 5 --variant default"
    only = opcheck.audit("g.bias", plugins=["gallery_plugin"], seed=5, variant="N=1")
    assert only.status == "pass"  # a batch of one hides the missing sum


def test_an_input_too_narrow_to_move_the_output_says_nothing_was_verified() -> None:
    # float16 values within an ulp of 0.5: no step that fits the range moves the output by
    # more than its rounding, so even a negated gradient cannot be told from the right one.
    op = Op(name="t.narrow", forward=lambda x: x * x,
            backward=lambda dout, x: {"x": (-2 * dout * x).astype(x.dtype)},
            inputs={"x": Tensor(shape=(8,), dtype="float16", low=0.4998, high=0.5002)})
    report = opcheck.audit(op, variant="default")
    assert report.status == "pass"
    assert any("no element could be verified" in w for w in report.warnings), report.warnings


def test_only_the_first_four_failing_inputs_keep_every_elements_error() -> None:
    # Wrong in every variant (seven of them for two dims): the report keeps the full error
    # grid of the first four failing inputs, as many as the HTML report maps.
    op = Op(name="t.tanh2d_off", forward=lambda x: np.tanh(x),
            backward=lambda dout, out, x: {"x": 1.01 * dout * (1 - out * out)},
            inputs={"x": Tensor(shape=("N", "D"))})
    failing = [i for v in opcheck.audit(op).variants for i in v.inputs if i.status == "fail"]
    assert len(failing) > 4
    assert [i.abs_errors is not None for i in failing] == [True] * 4 + [False] * (len(failing) - 4)
