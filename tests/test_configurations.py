"""opcheck.configurations: shape variants × attr configurations, labels and selectors."""

from __future__ import annotations

import itertools
import os
import subprocess
import textwrap

import numpy as np
import pytest
from cli_command import OPCHECK

import opcheck
import opcheck.engine
import opcheck.plugin_manager  # loaded before pytester snapshots sys.modules
from opcheck import Op, Tensor
from opcheck.configurations import (
    GRID_LIMIT,
    attr_configurations,
    expand_selectors,
    label,
    matching,
    plan,
    spell,
)

pytest_plugins = ["pytester"]


def _op(**fields) -> Op:
    base = {"name": "t.op", "forward": lambda x, **kw: x, "backward": lambda dout, x, **kw: {"x": dout},
                "inputs": {"x": Tensor(shape=("N",))}}
    return Op(**{**base, **fields})


def test_an_op_without_attrs_keeps_its_labels():
    assert list(plan(_op())) == ["default", "N=1", "N=4"]


def test_a_small_grid_is_audited_in_full_defaults_first():
    op = _op(attrs={"stride": [1, 2], "pad": [0, 1]})
    assert list(plan(op)) == ["stride=1 pad=0", "stride=1 pad=0 N=1", "stride=1 pad=0 N=4",
                              "stride=1 pad=1", "stride=2 pad=0", "stride=2 pad=1"]
    assert plan(op)["stride=2 pad=1"] == ({"N": 3}, {"stride": 2, "pad": 1})


def test_a_large_grid_gets_a_pairwise_covering_design():
    attrs = {"a": [0, 1, 2], "b": ["x", "y", "z"], "c": [True, False], "d": [None, (1, 2)]}
    op = _op(attrs=attrs)
    configs = attr_configurations(op, op.default_dims())
    assert 3 * 3 * 2 * 2 > GRID_LIMIT >= len(configs)
    assert configs[0] == {"a": 0, "b": "x", "c": True, "d": None}
    for (p, pv), (q, qv) in itertools.combinations(attrs.items(), 2):
        for u, v in itertools.product(pv, qv):
            assert any(c[p] == u and c[q] == v for c in configs), (p, u, q, v)
    assert configs == attr_configurations(op, op.default_dims())  # deterministic


def test_a_constraint_leaves_out_invalid_configurations_and_variants():
    op = _op(inputs={"x": Tensor(shape=("H",))}, dims={"H": 4},
             attrs={"k": [1, 3, 5]}, constraints=["k <= H"])
    labels = list(plan(op))
    assert "k=5" not in labels and "k=3" in labels
    op = _op(inputs={"x": Tensor(shape=("N", "C")), "g": Tensor(shape=("G",))},
             dims={"C": 6, "G": 2}, constraints=["C % G == 0"])
    for dims, _ in plan(op).values():
        assert dims["C"] % dims["G"] == 0
    assert "C=1" not in plan(op) and any(k.startswith("C=") for k in plan(op))


def test_a_variant_that_changes_h_keeps_a_d_by_4h_weight_consistent():
    def forward(x, h, wx, wh):
        return x @ wx + h @ wh

    def backward(dout, x, h, wx, wh):
        return {"x": dout @ wx.T, "h": dout @ wh.T, "wx": x.T @ dout, "wh": h.T @ dout}

    op = Op(name="t.lstm_gates", forward=forward, backward=backward, dims={"H": 2},
            inputs={"x": Tensor(shape=("N", "D")), "h": Tensor(shape=("N", "H")),
                    "wx": Tensor(shape=("D", "4*H")), "wh": Tensor(shape=("H", "4*H"))})
    report = opcheck.audit(op)
    assert report.status == "pass", report.message
    shapes = {v.label: {i.name: i.shape for i in v.inputs} for v in report.variants}
    assert shapes["H=1"]["wx"] == (3, 4) and shapes["H=4"]["wh"] == (4, 16)


def test_labels_spell_values_without_spaces():
    assert label({"kernel": (2, 3), "mode": "same", "eps": 1e-5, "bias": None}) == \
        "kernel=(2,3) mode=same eps=1e-05 bias=None"


@pytest.mark.parametrize("selector, expected", [
    ("stride=2", ["stride=2 pad=0", "stride=2 pad=1"]),
    ("stride=2 pad=1", ["stride=2 pad=1"]),
    ("N=1", ["stride=1 pad=0 N=1"]),
    ("default", ["stride=1 pad=0"]),  # the declared configuration, as for any op
    ("stride=3", []),
])
def test_a_selector_picks_every_label_holding_its_tokens(selector, expected):
    labels = list(plan(_op(attrs={"stride": [1, 2], "pad": [0, 1]})))
    assert matching(selector, labels) == expected


def test_expand_selectors_keeps_whole_op_dtype_and_exact_entries():
    labels = ["a=1", "a=2 b=1", "a=2 b=2"]
    assert expand_selectors({"*": "r0", "float32": "r1", "a=2": "r2"}, labels) == \
        {"*": "r0", "float32": "r1", "a=2 b=1": "r2", "a=2 b=2": "r2"}


STRIDED = textwrap.dedent("""
    import numpy as np
    import opcheck

    def forward(x, stride):
        return x[::stride] * 3.0

    def backward(dout, x, stride):
        g = np.zeros_like(x)
        g[::stride] = 3.0 * dout * (1.1 if stride == 2 else 1.0)
        return {"x": g}

    @opcheck.hookimpl
    def opcheck_ops():
        return [opcheck.Op(name="mylib.strided", forward=forward, backward=backward,
                           attrs={"stride": [1, 2]}, inputs={"x": opcheck.Tensor(shape=("N",))},
                           xfail=XFAIL)]
""")


def _run(tmp_path, *args, xfail="{}"):
    (tmp_path / "strided_ops.py").write_text(STRIDED.replace("XFAIL", xfail))
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run([*OPCHECK, "audit", "-p", "strided_ops", "--jobs", "1", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow  # starts processes
def test_the_cli_names_the_configuration_and_reproduces_it(tmp_path):
    result = _run(tmp_path, "mylib.*")
    assert result.returncode == 1
    assert "variant stride=2:" in result.stdout
    assert "--variant stride=2\n" in result.stdout
    again = _run(tmp_path, "mylib.strided", "--variant", "stride=2")
    assert again.returncode == 1 and "stride=1" not in again.stdout
    assert _run(tmp_path, "mylib.strided", "--variant", "stride=1").returncode == 0


def test_pytest_xfails_one_configuration(pytester, monkeypatch):
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    (pytester.path / "strided_ops.py").write_text(
        STRIDED.replace("XFAIL", "{'stride=2': 'known: strided backward'}"))
    result = pytester.runpytest("--opcheck-plugin", "strided_ops", "--opcheck-ops", "mylib.*")
    result.assert_outcomes(xfailed=1)
    assert "XFAIL" in result.stdout.str() or "xfailed" in result.stdout.str()


def test_given_inputs_fix_the_dims_behind_an_expression():
    op = Op(name="t.gates", forward=lambda x, w: x @ w, dims={"H": 2},
            backward=lambda dout, x, w: {"x": dout @ w.T, "w": x.T @ dout},
            inputs={"x": Tensor(shape=("N", "D")), "w": Tensor(shape=("D", "4*H"))})
    rng = np.random.default_rng(0)
    ok = {"x": rng.standard_normal((2, 3)), "w": rng.standard_normal((3, 8))}
    assert opcheck.audit(op, inputs=ok).status == "pass"
    with pytest.raises(opcheck.InputError, match="4\\*H"):
        opcheck.audit(op, inputs={"x": ok["x"], "w": rng.standard_normal((3, 7))})


def test_show_lists_attrs_constraints_and_residuals(tmp_path):
    (tmp_path / "strided_ops.py").write_text(STRIDED.replace("XFAIL", "{}"))
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run([*OPCHECK, "show", "-p", "strided_ops", "mylib.strided"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "attr:        stride in [1, 2] (default 1)" in result.stdout
    assert "stride=1, stride=1 N=1, stride=1 N=4, stride=2" in result.stdout


def test_a_grid_too_large_to_enumerate_still_covers_every_pair():
    attrs = {f"a{k}": list(range(5)) for k in range(7)}  # 5**7 = 78125 points
    op = _op(attrs=attrs, inputs={"x": Tensor(shape=("N",))}, constraints=["a0 + a1 <= 7"])
    configs = attr_configurations(op, op.default_dims())
    assert len(configs) < 60
    for config in configs:
        assert config["a0"] + config["a1"] <= 7
    for (p, pv), (q, qv) in itertools.combinations(attrs.items(), 2):
        for u, v in itertools.product(pv, qv):
            if {p, q} == {"a0", "a1"} and u + v > 7:
                continue  # never valid together
            assert any(c[p] == u and c[q] == v for c in configs), (p, u, q, v)


@pytest.mark.slow  # starts processes
def test_the_json_report_holds_each_variants_attrs(tmp_path):
    import json

    result = _run(tmp_path, "mylib.strided", "--format", "json")
    variants = {v["label"]: v for v in json.loads(result.stdout)["ops"][0]["variants"]}
    assert variants["stride=2"]["attrs"] == {"stride": 2}
    assert variants["stride=1 N=1"]["attrs"] == {"stride": 1} and variants["stride=1 N=1"]["dims"] == {"N": 1}


def test_a_partial_variant_selects_across_several_ops(tmp_path):
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run([*OPCHECK, "audit", "conv2d_*", "--variant", "stride=2", "--jobs", "1",
                             "--format", "json"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    import json

    ops = json.loads(result.stdout)["ops"]
    assert sorted(op["name"] for op in ops) == ["conv2d_im2col", "conv2d_naive"]
    for op in ops:
        assert sorted(v["label"] for v in op["variants"]) == ["stride=2 pad=0", "stride=2 pad=1"]


@pytest.mark.parametrize("values", [["ab", "a b"], [1, "1"], [True, "True"], [(1, 2), "(1,2)"],
                                    ["x", ("x",)]], ids=str)
def test_different_attr_values_never_share_a_label(values):
    assert len({label({"mode": v}) for v in values}) == len(values)
    assert all(" " not in spell(v) for v in values)  # one token each


def test_default_matches_the_first_label():
    assert matching("default", ["k=1", "k=1 N=1", "k=2"]) == ["k=1"]
