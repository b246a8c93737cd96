"""Test plugin: one op for each way an op can take its audit down, and one that passes.

Used by tests/test_runner.py and tests/test_cli.py, copied into tmp_path and loaded with
``-p broken_ops``. Nothing here runs at import time.
"""

import ctypes
import os
import time

import numpy as np

import opcheck

X = {"x": opcheck.Tensor(shape=("N",))}


def _identity_backward(dout, x):
    return {"x": dout}


def _hang(x):
    while True:  # a Python loop: the in-process timer can stop it too
        time.sleep(0.05)


def _segfault(x):
    return ctypes.string_at(0)  # reads address 0: SIGSEGV in C code


def _abort(x):
    os.abort()


def _exit(x):
    os._exit(3)


def _raise(x):
    raise RuntimeError("numerics exploded")


def _sys_exit(x):
    raise SystemExit(4)


def _tanh(x):
    return np.tanh(x)


def _tanh_backward(dout, out, x):
    return {"x": dout * (1.0 - out**2)}


@opcheck.hookimpl
def opcheck_ops():
    def op(name, forward, backward=_identity_backward):
        return opcheck.Op(name=name, forward=forward, backward=backward, inputs=X)

    return [
        op("bad.hang", _hang),
        op("bad.segfault", _segfault),
        op("bad.abort", _abort),
        op("bad.exit", _exit),
        op("bad.raise", _raise),
        op("bad.sys_exit", _sys_exit),
        op("bad.fine", _tanh, _tanh_backward),
    ]
