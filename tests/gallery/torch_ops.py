"""A gallery of ops written in torch: the bugs people write in custom autograd rules, and
correct ops that are hard to check. A plugin module (``-p torch_ops`` from this folder);
``CASES`` says what the audit owes each op (tests/test_frameworks_torch.py,
benchmarks/frameworks.py).

Note: torch's autograd engine itself sums a full-shaped gradient down to a broadcast
input's shape, so the "forgot the sum" bug that survives in torch is a sum over the wrong
axis, or a mean over the wrong count, which square test shapes hide.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

import opcheck
from opcheck import Op, Tensor


class Expect(NamedTuple):
    op: Op
    verdict: str  # the audit's status: "pass", "fail" or "error"
    why: str


def _float(*shape: str | int, dtype: str = "float64", **kw: float) -> Tensor:
    return Tensor(shape=shape, dtype=dtype, **kw)


# --- bugs ------------------------------------------------------------------------------

class BiasAddWrongAxis(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, b):
        return x + b

    @staticmethod
    def backward(ctx, g):
        return g, g.sum(1)  # Bug: b broadcasts over axis 0, so the sum is over axis 0


class MeanPoolWrongCount(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return x.mean(0)

    @staticmethod
    def backward(ctx, g):
        n, d = ctx.shape
        return g.expand(n, d) / d  # Bug: divides by D, the kept axis, not N


class SoftmaxMissingTerm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.softmax(x, -1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y  # Bug: forgot "- y * (g * y).sum(-1, keepdim=True)"


def _library_op(name: str, backward):
    """``x * y + x`` as a torch.library custom op whose registered rule is ``backward``
    (registered once per process, whatever name this module is imported under)."""
    qualified = f"opcheck_gallery::{name}"
    namespace = torch.ops.opcheck_gallery
    if hasattr(namespace, name):
        return getattr(namespace, name).default

    @torch.library.custom_op(qualified, mutates_args=())
    def mul_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x * y + x

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    mul_add.register_autograd(backward, setup_context=setup_context)
    return mul_add


def _mul_add_swapped(ctx, g):
    x, y = ctx.saved_tensors
    return g * x, g * (y + 1)  # Bug: (grad_y, grad_x): the order of the inputs is (x, y)


def _mul_add_right(ctx, g):
    x, y = ctx.saved_tensors
    return g * (y + 1), g * x


def _pairwise_product(x):
    # Bug: as_strided with strides computed for a contiguous x: wrong on a transposed or
    # sliced x (its autograd rule is torch's, and right for what the forward computes).
    n, d = x.shape
    return x.as_strided((n, d - 1, 2), (d, 1, 1)).prod(-1)


# --- correct but tricky ------------------------------------------------------------------

class GeluTanh(torch.autograd.Function):
    """The tanh approximation of GELU in float32, with a hand-written backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        c = math.sqrt(2 / math.pi)
        return 0.5 * x * (1 + torch.tanh(c * (x + 0.044715 * x**3)))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        c = math.sqrt(2 / math.pi)
        t = torch.tanh(c * (x + 0.044715 * x**3))
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x))


class ScaledExp(torch.autograd.Function):
    """exp(a * x) with backward and a forward-mode rule (jvp), so both are audited."""

    @staticmethod
    def forward(ctx, x, a):
        y = torch.exp(a * x)
        ctx.save_for_backward(x, a, y)
        ctx.save_for_forward(x, a, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, a, y = ctx.saved_tensors
        return g * a * y, (g * x * y).sum().reshape(a.shape)

    @staticmethod
    def jvp(ctx, tx, ta):
        x, a, y = ctx.saved_tensors
        return y * (a * tx + x * ta)


def _top2(x):
    values, indices = torch.topk(x, 2, dim=-1)
    return values, indices  # an integer output beside a float one


def _gather_rows(table, index):
    return table[index] * 2.0  # index: integer input, not differentiable


def _logsumexp_f32(x):
    return torch.logsumexp(x * 30.0, dim=-1)  # float32, large logits


def _ops() -> list[Expect]:
    swapped = _library_op("mul_add_swapped", _mul_add_swapped)
    right = _library_op("mul_add", _mul_add_right)
    return [
        Expect(opcheck.from_torch("torch.bias_add_wrong_axis", BiasAddWrongAxis.apply,
                                  inputs={"x": _float("N", "D"), "b": _float("D")}),
               "error", "autograd.Function backward sums over the wrong axis: wrong values "
               "at N == D, a shape torch rejects elsewhere"),
        Expect(opcheck.from_torch("torch.mean_pool_wrong_count", MeanPoolWrongCount.apply,
                                  inputs={"x": _float("N", "D")}),
               "fail", "divides by D instead of N: right whenever the test input is square"),
        Expect(opcheck.from_torch("torch.softmax_missing_term", SoftmaxMissingTerm.apply,
                                  inputs={"x": _float("N", "C", dtype="float32")}),
               "fail", "float32 softmax backward without the dot-product term"),
        Expect(opcheck.from_torch("torch.library_grads_swapped", swapped,
                                  inputs={"x": _float("N"), "y": _float("N")}),
               "fail", "register_autograd rule returns its grads in the wrong order"),
        Expect(opcheck.from_torch("torch.contiguous_only", _pairwise_product,
                                  inputs={"x": _float("N", "D")}, dims={"D": 5}),
               "error", "as_strided assuming contiguous strides: wrong on a strided input"),
        Expect(opcheck.from_torch("torch.gelu_tanh_f32", GeluTanh.apply,
                                  inputs={"x": _float("N", "D", dtype="float32", low=-4, high=4)}),
               "pass", "float32 hand-written GELU backward"),
        Expect(opcheck.from_torch("torch.library_mul_add", right,
                                  inputs={"x": _float("N"), "y": _float("N")}),
               "pass", "torch.library custom op with register_autograd and setup_context"),
        Expect(opcheck.from_torch("torch.scaled_exp", ScaledExp.apply,
                                  inputs={"x": _float("N", low=-3, high=3), "a": _float(low=0.5, high=2)}),
               "pass", "autograd.Function with backward and jvp, a scalar input"),
        Expect(opcheck.from_torch("torch.top2", _top2, inputs={"x": _float("N", 4)}),
               "pass", "a float output beside an integer one"),
        Expect(opcheck.from_torch("torch.gather_rows", _gather_rows,
                                  inputs={"table": _float("V", "D"),
                                          "index": Tensor(shape=("N",), dtype="int64", low=0, high=1)}),
               "pass", "an integer input that is not differentiable (repeated indices)"),
        Expect(opcheck.from_torch("torch.logsumexp_f32", _logsumexp_f32,
                                  inputs={"x": _float("N", "C", dtype="float32")}),
               "pass", "float32 logsumexp with logits up to 30"),
    ]


CASES = _ops()


@opcheck.hookimpl
def opcheck_ops():
    return [case.op for case in CASES]
