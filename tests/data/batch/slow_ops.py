"""Test plugin: 24 correct ops that each take about 0.2 s (their backward sleeps), so that
a test can interrupt a run part-way. ``SLOW_OPS_PIDS``, when set, names a file each
worker appends its pid to (to check that workers do not outlive a killed run)."""

import os
import time

import opcheck

COUNT = 24


def _make(k):
    scale = 1.0 + k

    def forward(x):
        return x * scale

    def backward(dout, x):
        log = os.environ.get("SLOW_OPS_PIDS")
        if log:
            with open(log, "a") as handle:
                handle.write(f"{os.getpid()}\n")
        time.sleep(0.03)
        return {"x": dout * scale}

    return opcheck.Op(name=f"slow.op{k:02d}", forward=forward, backward=backward,
                      inputs={"x": opcheck.Tensor(shape=("N",))})


@opcheck.hookimpl
def opcheck_ops():
    return [_make(k) for k in range(COUNT)]
