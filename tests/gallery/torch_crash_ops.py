"""Torch ops that take the process down or never return, for the batch runner's isolation
tests (``-p torch_crash_ops`` from this folder): each must become one ``error`` entry."""

from __future__ import annotations

import ctypes

import torch

import opcheck
from opcheck import Tensor


class ReadsFreedMemory(torch.autograd.Function):
    """A forward that dereferences a dangling pointer, as a broken C++ kernel does."""

    @staticmethod
    def forward(ctx, x):
        ctypes.string_at(0)  # segfault
        return x

    @staticmethod
    def backward(ctx, g):
        return g


def _never_converges(x):
    y = x.clone()
    while bool((y.abs() >= 0).all()):  # a fixed-point loop whose test never fails
        y = torch.tanh(y)
    return y


@opcheck.hookimpl
def opcheck_ops():
    return [
        opcheck.from_torch("torch.segfault", ReadsFreedMemory.apply,
                           inputs={"x": Tensor(shape=("N",))}),
        opcheck.from_torch("torch.hang", _never_converges, inputs={"x": Tensor(shape=("N",))}),
        opcheck.from_torch("torch.fine", torch.sin, inputs={"input": Tensor(shape=("N",))}),
    ]
