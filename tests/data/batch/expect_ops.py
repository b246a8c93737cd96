"""Test plugin: an op library as CI sees it, with known failures declared in every way.

Used by tests/test_expectations.py, tests/test_baseline.py and tests/test_comparison.py, copied
into tmp_path and loaded with ``-p expect_ops``. ``EXPECT_BUG`` in the environment names
an op whose backward is broken for this run (a new bug), so two runs can be diffed.
"""

import ctypes
import os

import opcheck

X = {"x": opcheck.Tensor(shape=("N",))}
X32 = {"x": opcheck.Tensor(shape=("N",), dtype="float32")}


def _double(x):
    return 2.0 * x


def _double_grad(dout, x):
    return {"x": 2.0 * dout}


def _half_grad(dout, x):  # the factor 2 forgotten
    return {"x": 1.0 * dout}


def _wrong_at_one(dout, x):
    return {"x": (1.0 if x.shape[0] == 1 else 2.0) * dout}


def _crash_at_one(x):
    if x.shape[0] == 1:
        ctypes.string_at(0)  # SIGSEGV: only a skip keeps it from running
    return 2.0 * x


def _grad(name):
    return _half_grad if os.environ.get("EXPECT_BUG") == name else _double_grad


@opcheck.hookimpl
def opcheck_ops():
    return [
        opcheck.Op(name="expect.known", forward=_double, backward=_half_grad, inputs=X,
                   xfail={"*": "issue 12"}),
        opcheck.Op(name="expect.fixed", forward=_double, backward=_double_grad, inputs=X,
                   xfail={"*": "issue 13"}),
        opcheck.Op(name="expect.batch_one", forward=_double, backward=_wrong_at_one, inputs=X,
                   xfail={"N=1": "a batch of one"}),
        opcheck.Op(name="expect.f32", forward=_double, backward=_half_grad, inputs=X32,
                   skip={"float32": "no float32 here"}),
        opcheck.Op(name="expect.crash_at_one", forward=_crash_at_one, backward=_double_grad,
                   inputs=X, skip={"N=1": "segfaults at a batch of one"}),
        opcheck.Op(name="expect.good", forward=_double, backward=_grad("expect.good"), inputs=X),
        opcheck.Op(name="expect.listed", forward=_double, backward=_half_grad, inputs=X),
        opcheck.Op(name="expect.listed_fixed", forward=_double, backward=_double_grad, inputs=X),
    ]
