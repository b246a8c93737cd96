"""Test plugin: an op that allocates until memory runs out. Audit it only under
``--max-memory`` (or ``RunOptions(max_memory=...)``): unlimited, it would take the machine's."""

import numpy as np

import opcheck


def _hungry(x):
    hoard = [np.ones(2**27) for _ in range(64)]  # 1 GiB each, 64 GiB in all
    return x + len(hoard)


@opcheck.hookimpl
def opcheck_ops():
    return [
        opcheck.Op(name="hungry.hoard", forward=_hungry, backward=lambda dout, x: {"x": dout},
                   inputs={"x": opcheck.Tensor(shape=("N",))}),
    ]
