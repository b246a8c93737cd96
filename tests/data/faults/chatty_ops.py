"""Test plugin: writes to stdout and stderr at import and in its hook, and declares an op
that passes."""
import os
import sys

import numpy as np

import opcheck

print("chatty: import {not json")
os.write(1, b"chatty: raw bytes at import\n")
print("chatty: stderr at import", file=sys.stderr)


@opcheck.hookimpl
def opcheck_ops():
    print("chatty: in the hook")
    return [opcheck.Op(name="chatty.tanh", forward=lambda x: np.tanh(x),
                       backward=lambda dout, out, x: {"x": dout * (1.0 - out**2)},
                       inputs={"x": opcheck.Tensor(shape=(3,))})]
