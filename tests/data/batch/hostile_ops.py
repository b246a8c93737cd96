"""Test plugin: names and messages that try to break the reports (markup, Markdown table
syntax, control characters), and a gradient that is wrong on some elements only."""

import numpy as np

import opcheck

HOSTILE_NAME = "<script>alert('op')</script>"
PIPE_NAME = "mylib.|pipe|*star*`tick`"


def _tanh(x):
    return np.tanh(x)


def _wrong_where_large(dout, out, x):
    # correct except where x > 0.6: those elements are 1.5x too large
    return {"x": dout * (1.0 - out**2) * (1.0 + 0.5 * (x > 0.6))}


def _raise(x):
    raise ValueError("<img src=x onerror=alert(1)> \x1b[31mred\x1b[0m & ]]> | `tick`")


@opcheck.hookimpl
def opcheck_ops():
    x = {"x": opcheck.Tensor(shape=("N", "D"))}
    return [
        opcheck.Op(name=HOSTILE_NAME, forward=_tanh, backward=_wrong_where_large, inputs=x),
        opcheck.Op(name=PIPE_NAME, forward=_raise, backward=lambda dout, x: {"x": dout}, inputs=x),
        opcheck.Op(name="mylib.tanh", forward=_tanh,
                   backward=lambda dout, out, x: {"x": dout * (1.0 - out**2)}, inputs=x),
    ]
