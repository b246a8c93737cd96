"""Losses with a scalar output, averaged over the N examples of a batch.

Integer class labels are a non-differentiable input (no gradient is returned for them),
drawn from [0, C) with ``high="C"``: the shape variants change the number of classes C and
the labels follow. The multiclass hinge loss has kinks where a margin is
exactly 0; there it takes the subgradient 0 (a margin counts only when it is > 0).
"""

from __future__ import annotations

import numpy as np

import opcheck

from .softmax import log_softmax, softmax

Array = np.ndarray

NUM_CLASSES = 4
HINGE_MARGIN = 1.0


def one_hot(labels: Array, num_classes: int, dtype: np.dtype) -> Array:
    return (labels[:, None] == np.arange(num_classes)).astype(dtype)


def softmax_cross_entropy_forward(logits: Array, labels: Array) -> Array:
    picked = np.take_along_axis(log_softmax(logits, axis=1), labels[:, None], axis=1)
    return -picked.mean()


def softmax_cross_entropy_backward(dout: Array, logits: Array, labels: Array) -> dict[str, Array]:
    n, c = logits.shape
    grad = softmax(logits, axis=1) - one_hot(labels, c, logits.dtype)
    return {"logits": dout * grad / n}


def mse_forward(pred: Array, target: Array) -> Array:
    return ((pred - target) ** 2).mean()


def mse_backward(dout: Array, pred: Array, target: Array) -> dict[str, Array]:
    grad = dout * (2.0 / pred.size) * (pred - target)
    return {"pred": grad, "target": -grad}


def mse_jvp(pred: Array, target: Array, tangents: dict[str, Array]) -> Array:
    return ((2.0 / pred.size) * (pred - target) * (tangents["pred"] - tangents["target"])).sum()


def mse_double_backward(
    ggrads: dict[str, Array], dout: Array, pred: Array, target: Array
) -> dict[str, Array]:
    # backward is dout (2/n) (p - t), +/-: only gp - gt of the cotangents matters
    g = (ggrads["pred"] - ggrads["target"]) * (2.0 / pred.size)
    return {"pred": dout * g, "target": -dout * g, "dout": (g * (pred - target)).sum()}


def hinge_margins(scores: Array, labels: Array) -> Array:
    """max(0, s_j - s_y + margin) for every class j, and 0 for the true class y."""
    correct = np.take_along_axis(scores, labels[:, None], axis=1)
    margins = np.maximum(scores - correct + HINGE_MARGIN, 0.0)
    return np.where(one_hot(labels, scores.shape[1], bool), 0.0, margins)


def multiclass_hinge_forward(scores: Array, labels: Array) -> Array:
    return hinge_margins(scores, labels).sum(axis=1).mean()


def multiclass_hinge_backward(dout: Array, scores: Array, labels: Array) -> dict[str, Array]:
    n, c = scores.shape
    active = (hinge_margins(scores, labels) > 0).astype(scores.dtype)
    # each active margin adds +1 to its class and -1 to the true class
    grad = active - one_hot(labels, c, scores.dtype) * active.sum(axis=1, keepdims=True)
    return {"scores": dout * grad / n}


def _labels() -> opcheck.Tensor:
    return opcheck.Tensor(shape=("N",), dtype="int64", low=0, high="C")


@opcheck.hookimpl
def opcheck_ops() -> list[opcheck.Op]:
    return [
        opcheck.Op(
            name="softmax_cross_entropy",
            description="L = -(1/N) sum_n log softmax(logits_n)[labels_n]",
            forward=softmax_cross_entropy_forward,
            backward=softmax_cross_entropy_backward,
            inputs={
                "logits": opcheck.Tensor(shape=("N", "C"), low=-2.0, high=2.0),
                "labels": _labels(),
            },
            dims={"N": 5, "C": NUM_CLASSES},
        ),
        opcheck.Op(
            name="mse",
            description="L = mean((pred - target)^2) over all elements",
            forward=mse_forward,
            backward=mse_backward,
            jvp=mse_jvp,
            double_backward=mse_double_backward,
            inputs={
                "pred": opcheck.Tensor(shape=("N", "D")),
                "target": opcheck.Tensor(shape=("N", "D")),
            },
            dims={"N": 4, "D": 3},
        ),
        opcheck.Op(
            name="multiclass_hinge",
            description=f"L = (1/N) sum_n sum_(j != y_n) max(0, s_nj - s_n,y_n + {HINGE_MARGIN:g})"
            " (multiclass SVM)",
            forward=multiclass_hinge_forward,
            backward=multiclass_hinge_backward,
            inputs={
                "scores": opcheck.Tensor(shape=("N", "C")),
                "labels": _labels(),
            },
            dims={"N": 5, "C": NUM_CLASSES},
        ),
    ]
