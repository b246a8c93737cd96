"""The default mode: every element where the budget allows, else projections, a covering
sample and localisation that names a single wrong element among 10^5."""

from __future__ import annotations

import re

import numpy as np
import pytest

import opcheck
from opcheck import Op, Tensor, budget, coverage, localise
from opcheck.errors import UsageError


def _scale_fw(x, w):
    return x * w


def _scale_bw(dout, x, w):
    return {"x": dout * w, "w": dout * x}


def _scale_bw_one_wrong(dout, x, w):
    grads = _scale_bw(dout, x, w)
    grads["x"][123, 456] *= 1.001  # one element of 100,000, 0.1% off
    return grads


def _big(backward) -> Op:
    return Op(name="big.scale", forward=_scale_fw, backward=backward,
              inputs={"x": Tensor(shape=("N", "M")), "w": Tensor(shape=("N", "M"))},
              dims={"N": 200, "M": 500})


def test_a_small_op_is_checked_in_full_and_says_so():
    op = Op(name="small.scale", forward=_scale_fw, backward=_scale_bw,
            inputs={"x": Tensor(shape=("N",)), "w": Tensor(shape=("N",))}, dims={"N": 6})
    report = opcheck.audit(op)
    assert report.mode == "auto" and report.status == "pass"
    item = report.variants[0].inputs[0]
    assert item.coverage == "all 6 elements" and sum(item.counts.values()) == 6
    assert "checked all elements of every input" in str(report)


def test_over_budget_a_correct_op_passes_on_projections_and_a_covering_sample():
    report = opcheck.audit(_big(_scale_bw), variant="default", budget=0.5)
    assert report.status == "pass", str(report)
    item = report.variants[0].inputs[0]
    assert item.coverage.startswith("4 joint projections + ") and "of 100,000" in item.coverage
    assert 0 < item.size < 100_000
    assert "projections" in report.to_dict()["coverage"]


def test_one_wrong_element_among_100000_is_named_with_both_values():
    report = opcheck.audit(_big(_scale_bw_one_wrong), variant="default", budget=0.5)
    assert report.status == "fail"
    item = report.variants[0].inputs[0]
    assert item.name == "x" and [e.index for e in item.mismatches] == [(123, 456)]
    wrong = item.mismatches[0]
    assert wrong.analytic == pytest.approx(1.001 * wrong.numeric, rel=1e-6)
    assert "localised" in item.coverage and "(123, 456)" in str(report)


def test_full_mode_ignores_the_budget():
    op = Op(name="mid.scale", forward=_scale_fw, backward=_scale_bw,
            inputs={"x": Tensor(shape=("N",)), "w": Tensor(shape=("N",))}, dims={"N": 3000})
    report = opcheck.audit(op, mode="full", variant="default", budget=1e-6)
    assert report.variants[0].inputs[0].coverage == "all 3,000 elements"
    assert opcheck.audit(op, variant="default", budget=1e-6).variants[0].inputs[0].size < 3000


def test_a_bad_budget_is_a_usage_error():
    with pytest.raises(UsageError, match="budget"):
        opcheck.audit(_big(_scale_bw), budget=0)


@pytest.mark.parametrize("raw", ["abc", "-1", "0", "inf", "nan"])
@pytest.mark.parametrize("mode", ["auto", "full"])
def test_a_bad_budget_in_the_environment_is_a_usage_error_naming_it(monkeypatch, raw, mode):
    monkeypatch.setenv("OPCHECK_BUDGET", raw)
    with pytest.raises(UsageError, match=rf"OPCHECK_BUDGET='{raw}' is not a budget; set it to "
                                         r"a number of seconds > 0, e.g. OPCHECK_BUDGET=5"):
        opcheck.audit("relu", mode=mode)


def test_the_choice_follows_the_cost_of_a_forward_call():
    assert budget.choose(1000, 1e-6, 5.0) == "full"
    assert budget.choose(10**6, 1e-3, 5.0) == "sampled"


def test_the_covering_sample_touches_every_row_column_and_corner():
    rng = np.random.default_rng(0)
    picks = coverage.covering_sample((30, 40), rng)
    rows, cols = np.unravel_index(picks, (30, 40))
    assert set(rows) == set(range(30)) and set(cols) == set(range(40))
    assert {0, 39, 1160, 1199} <= set(picks.tolist())
    assert coverage.covering_sample((30, 40), rng, limit=10).size == 10


def test_bisection_finds_each_bad_element_in_about_2_log2_n_tests():
    bad = {777, 31_000}
    tests = []

    def disagrees(block):
        tests.append(block.size)
        return bool(bad & set(block.tolist()))

    found = localise.bisect(np.arange(100_000), disagrees)
    assert bad <= set(found.tolist()) and found.size <= 2 * localise.LEAF
    assert len(tests) <= 4 * 17


def _mm_fw(x, w):
    return x @ w


def _mm_bw_wrong_when_m_is_1(dout, x, w):
    dw = x.T @ dout
    if w.shape[1] == 1:  # a bug only a size-1 dim shows
        dw = dw * 2
    return {"x": dout @ w.T, "w": dw}


def _mm_bw_square_only(dout, x, w):
    # A bug only a non-square x shows: a factor N / K that is 1 at the declared sizes.
    return {"x": dout @ w.T, "w": (x.T @ dout) * (x.shape[0] / x.shape[1])}


def test_variants_of_a_large_op_run_at_small_sizes_and_still_catch_shape_bugs():
    from opcheck.configurations import plan

    op = Op(name="big.mm", forward=_mm_fw, backward=_mm_bw_wrong_when_m_is_1,
            inputs={"x": Tensor(shape=("N", "K")), "w": Tensor(shape=("K", "M"))},
            dims={"N": 128, "K": 128, "M": 96})
    variants = plan(op)
    assert variants["default"][0] == {"N": 128, "K": 128, "M": 96}
    assert all(max(dims.values()) <= 8 for label, (dims, _) in variants.items() if label != "default")
    report = opcheck.audit(op)
    assert report.status == "fail" and report.failing_variant().label == "M=1"
    square = Op(name="big.square", forward=_mm_fw, backward=_mm_bw_square_only,
                inputs={"x": Tensor(shape=("N", "K")), "w": Tensor(shape=("K", "M"))},
                dims={"N": 80, "K": 80, "M": 80})
    assert opcheck.audit(square).status == "fail"  # the N != K variants show it


def _double_bw_wrong_when_w_is_1(dout, x):
    return {"x": dout * (3.0 if x.shape[3] == 1 else 2.0)}


def test_variants_of_a_large_op_with_no_dim_above_64_are_small_too():
    """A conv2d-like x (4, 8, 32, 32): 32,768 elements, no dim above 64. Its variants
    shrink the largest dims until they hold at most 4,096 elements, and a bug only a
    size-1 dim shows is still caught."""
    from opcheck.configurations import SMALL_ELEMENTS, plan

    op = Op(name="big.double", forward=lambda x: 2.0 * x, backward=_double_bw_wrong_when_w_is_1,
            inputs={"x": Tensor(shape=("N", "C", "H", "W"))}, dims={"N": 4, "C": 8, "H": 32, "W": 32})
    variants = plan(op)
    assert variants["default"][0] == {"N": 4, "C": 8, "H": 32, "W": 32}
    others = {label: dims for label, (dims, _) in variants.items() if label != "default"}
    assert {"W=1", "H=1", "N=1", "C=1"} <= set(others)
    assert all(np.prod(list(dims.values())) <= SMALL_ELEMENTS for dims in others.values()), others
    assert others["W=1"]["H"] == others["N=1"]["W"] < 32  # H and W declared equal stay equal
    report = opcheck.audit(op)
    assert report.status == "fail" and report.failing_variant().label == "W=1"
    assert [v.label for v in report.variants if v.status == "fail"] == ["W=1"]


def test_small_ops_get_the_full_check_whatever_the_clock_says():
    """A loaded machine (a slow forward call) must not change a small op's report."""
    assert budget.choose(budget.ALWAYS_FULL, 10.0, 0.001) == "full"
    assert budget.choose(budget.ALWAYS_FULL + 1, 10.0, 0.001) == "sampled"


def _scale_bw_wrong_at_full_size(dout, x, w):
    grads = _scale_bw(dout, x, w)
    if grads["x"].shape == (200, 500):  # the small variants are right
        grads["x"][123, 456] *= 1.01
    return grads


def test_the_reproduce_line_carries_the_budget_a_sampled_variant_had():
    # The op's budget is shared among its variants: "--variant default" alone would give
    # that variant all of it, a larger sample and another report.
    op = _big(_scale_bw_wrong_at_full_size)
    report = opcheck.audit(op, budget=0.01)  # (a share small enough for the minimum sample)
    assert report.status == "fail" and report.failing_variant().label == "default"
    shown = re.search(r"budget=([0-9.e-]+)\)", report.reproduce)
    assert shown, report.reproduce
    share = float(shown.group(1))
    assert 0.9 * 0.01 < share < 0.01  # the default variant holds most of the op's elements
    again = opcheck.audit(op, variant="default", budget=share)
    before, after = report.variants[0].inputs[0], again.variants[0].inputs[0]
    assert (after.coverage, after.size) == (before.coverage, before.size)
    assert [e.index for e in after.mismatches] == [(123, 456)]


def test_the_budget_is_shared_among_variants_by_their_elements():
    """Small variants are checked whole at any budget: the large default variant gets
    most of the op's budget rather than an equal part."""
    from opcheck import configurations
    from opcheck.engine import variant_budgets

    op = _big(_scale_bw)
    plan = configurations.plan(op)
    shares = variant_budgets(op, plan, 2.0)
    assert list(shares) == list(plan) and len(plan) > 2
    assert sum(shares.values()) == pytest.approx(2.0)
    assert shares["default"] > 1.9 and all(s < 0.05 for k, s in shares.items() if k != "default")
    assert variant_budgets(op, {"default": plan["default"]}, 2.0) == {"default": 2.0}


def test_a_fully_checked_failure_reproduces_without_a_budget():
    op = Op(name="small.scale", forward=_scale_fw,
            backward=lambda dout, x, w: {"x": dout * w * 1.01, "w": dout * x},
            inputs={"x": Tensor(shape=("N",)), "w": Tensor(shape=("N",))}, dims={"N": 6})
    report = opcheck.audit(op, budget=0.7)
    assert report.status == "fail" and "budget" not in report.reproduce, report.reproduce


def test_a_sampled_pass_says_what_it_covered_in_the_text_report():
    from opcheck.report import render_text

    sampled = opcheck.audit(_big(_scale_bw), variant="default", budget=0.5)
    small = opcheck.audit(Op(name="small.scale", forward=_scale_fw, backward=_scale_bw,
                             inputs={"x": Tensor(shape=("N",)), "w": Tensor(shape=("N",))},
                             dims={"N": 6}))
    text = render_text([sampled, small])
    assert "Checked by projections and a sample" in text
    assert f"  big.scale: {sampled.coverage}" in text and "(of 100,000)" in text
    assert "small.scale:" not in text.split("Checked by projections")[1]
    assert "Checked by projections" not in render_text([small])


def test_fast_mode_localises_a_wrong_element_of_a_large_input_rather_than_checking_all():
    report = opcheck.audit(_big(_scale_bw_one_wrong), variant="default", mode="fast")
    item = report.variants[0].inputs[0]
    assert report.status == "fail" and [e.index for e in item.mismatches] == [(123, 456)]
    assert "localised" in item.coverage and item.size < 5_000, item.coverage
    assert report.variants[0].inputs[1].status == "pass"  # w's projections agreed


def test_fast_mode_checks_a_small_input_in_full_when_a_projection_disagrees():
    op = Op(name="small.scale", forward=_scale_fw,
            backward=lambda dout, x, w: {"x": dout * w * 1.01, "w": dout * x},
            inputs={"x": Tensor(shape=("N",)), "w": Tensor(shape=("N",))}, dims={"N": 50})
    item = opcheck.audit(op, variant="default", mode="fast").variants[0].inputs[0]
    assert item.status == "fail" and item.size == 50 and item.counts["fail"] == 50
