"""Test plugin: ops that run out of time in different ways, for the timeout messages
(tests/test_timeouts.py). Each forward counts its own calls (a fresh count per discovery)."""

import itertools
import time

import opcheck

#: 4,096 elements: the default mode checks each of them (budget.ALWAYS_FULL), two forward
#: calls of a millisecond each: about 8 s per variant.
N = 4096


def _backward(dout, x):
    return {"x": 2.0 * dout}


def _op(name, forward):
    return opcheck.Op(name=name, forward=forward, backward=_backward,
                      inputs={"x": opcheck.Tensor(shape=("N",))}, dims={"N": N})


def _sleeping_after(calls):
    """A forward (2x) that sleeps a millisecond per call, and for good from call ``calls``."""
    count = itertools.count(1)

    def forward(x):
        time.sleep(1000 if next(count) >= calls else 0.001)
        return 2.0 * x

    return forward


@opcheck.hookimpl
def opcheck_ops():
    return [
        _op("timing.progressing", _sleeping_after(10**9)),
        _op("timing.hangs", _sleeping_after(3)),  # the third call: after the contract's two
        _op("timing.hangs_later", _sleeping_after(400)),  # after ~200 elements
    ]
