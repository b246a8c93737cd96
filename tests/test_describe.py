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
