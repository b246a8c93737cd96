"""Expectations the CLI must resolve: a skip under a partial ``--variant`` selector, and an
unexpected failure beside an expected one (tests/test_expectations.py)."""

import opcheck

X = {"x": opcheck.Tensor(shape=("N",))}


def _scale(x, scale):
    return scale * x


def _crash_at_two(dout, x, scale):
    if scale == 2.0:
        raise RuntimeError("scale=2 crashes")
    return {"x": scale * dout}


@opcheck.hookimpl
def opcheck_ops():
    return [
        opcheck.Op(name="partial.scale", forward=_scale, backward=_crash_at_two, inputs=X,
                   attrs={"scale": [1.0, 2.0], "shift": [0, 1]}, skip={"scale=2.0": "crashes"}),
        opcheck.Op(name="partial.default_known", forward=lambda x: 2 * x,
                   backward=lambda dout, x: {"x": 3 * dout}, inputs=X,
                   xfail={"default": "known"}),
    ]
