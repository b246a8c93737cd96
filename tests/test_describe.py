"""opcheck.describe: the `opcheck show` text of one op."""

from __future__ import annotations

import numpy as np

import opcheck
from opcheck.describe import describe_op
from opcheck.plugin_manager import PluginInfo


def test_a_bool_input_reads_false_or_true_not_a_numeric_range():
    op = opcheck.Op(name="t.where", forward=lambda x, m: np.where(m, x, 0.0),
                    backward=lambda dout, x, m: {"x": np.where(m, dout, 0.0)},
                    inputs={"x": opcheck.Tensor(shape=("N",)),
                            "m": opcheck.Tensor(shape=("N",), dtype=np.bool_)})
    text = describe_op(op, PluginInfo("p", "-p", None))
    [line] = [line for line in text.splitlines() if line.strip().startswith("m:")]
    assert "values False or True" in line and "[0, 2" not in line
    assert "values in [-1, 1]" in text  # the float input keeps its range


def _mm(dims):
    return opcheck.Op(name="t.mm", forward=lambda x, w: x @ w,
                      backward=lambda dout, x, w: {"x": dout @ w.T, "w": x.T @ dout},
                      inputs={"x": opcheck.Tensor(shape=("N", "K")),
                              "w": opcheck.Tensor(shape=("K", "M"))}, dims=dims)


def test_show_says_the_small_dims_a_large_ops_variants_start_from():
    from opcheck.describe import input_schema

    big = describe_op(_mm({"N": 128, "K": 128, "M": 96}), PluginInfo("p", "-p", None)).splitlines()
    at = next(i for i, line in enumerate(big) if line.startswith("variants:"))
    assert big[at + 1].strip() == "(each but the first at N=6, K=6, M=5, the label's dim as it says)"
    small = describe_op(_mm({"N": 3, "K": 4, "M": 5}), PluginInfo("p", "-p", None))
    assert "each but default" not in small
    dims = input_schema(_mm({"N": 128, "K": 128, "M": 96}))["variant_dims"]
    assert dims["default"] == {"N": 128, "K": 128, "M": 96} and dims["M=1"] == {"N": 6, "K": 6, "M": 1}
