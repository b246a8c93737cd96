"""Float32 twins of built-in ops, so a family declares its float64 op once.

A twin is the same forward and backward declared at float32: it checks that the code keeps
float32 end to end (no silent upcast through a float64 constant) and that its gradient
survives single precision. Not a plugin itself, so it is not in ``MODULES``.
"""

from __future__ import annotations

import numpy as np

import opcheck

FLOAT32_SUFFIX = ".float32"


def float32_twin(op: opcheck.Op) -> opcheck.Op:
    """``op`` renamed ``<name>.float32`` with every floating input declared float32."""
    inputs = {
        name: opcheck.Tensor(**{**tensor.model_dump(), "dtype": "float32"})
        if np.dtype(tensor.dtype).kind == "f"
        else tensor
        for name, tensor in op.inputs.items()
    }
    return opcheck.Op(**{**dict(op), "name": op.name + FLOAT32_SUFFIX, "inputs": inputs})
