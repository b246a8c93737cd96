"""Batched evaluation is used only where verified, never assumed."""

from __future__ import annotations

import numpy as np

from opcheck import batching


def _sampler(shape):
    return lambda rng: rng.standard_normal(shape)


def test_an_op_that_broadcasts_over_a_leading_axis_is_batchable() -> None:
    values = {"x": np.ones((3, 4)), "w": np.ones((4, 5))}
    assert batching.batchable(lambda x, w: x @ w, values, "x", 6, _sampler((3, 4)))


def test_an_op_mixing_batch_entries_is_not_batchable() -> None:
    # The output shape is right, but the mean runs over the whole stack.
    values = {"x": np.ones((3, 4))}
    assert not batching.batchable(lambda x: x - x.mean(), values, "x", 6, _sampler((3, 4)))


def test_a_scalar_input_that_would_broadcast_on_the_wrong_axis_is_not_batchable() -> None:
    values = {"x": np.ones((2, 6)), "b": np.asarray(0.5)}
    assert not batching.batchable(lambda x, b: x + b, values, "b", 6, _sampler(()))


def test_an_op_that_raises_on_a_batch_is_not_batchable() -> None:
    def forward(x):
        n, d = x.shape
        return x * 2

    values = {"x": np.ones((3, 4))}
    assert not batching.batchable(forward, values, "x", 4, _sampler((3, 4)))


def test_batch_size_respects_the_memory_budget() -> None:
    rows = batching.batch_size(10_000, in_size=100_000, out_size=100_000)
    assert rows * 200_000 * 8 <= batching.BATCH_BYTES or rows == 2
    assert batching.batch_size(24, 12, 15) == 24


def test_a_large_stack_still_shows_an_op_that_reads_another_batch_entry() -> None:
    """Past ``DISTINCT_ROWS`` the stack repeats its samples; the last row is not a repeat of
    row 0, so an op whose every row depends on the batch's first entry is caught."""
    values = {"x": np.zeros((3, 4))}
    assert not batching.batchable(lambda x: x - x.reshape(-1)[0], values, "x", 64, _sampler((3, 4)))
    assert batching.batchable(lambda x: x - x[..., :1, :1], values, "x", 64, _sampler((3, 4)))


def test_a_bound_forward_is_verified_once_per_function_and_attrs() -> None:
    # binding.bind makes a new functools.partial per variant and audit: the same function
    # with the same attrs must reuse the verification, other attrs must not.
    import functools

    calls = []

    def forward(x, scale):
        calls.append(x.shape)
        return x * scale if scale > 0 else x - x.mean()  # mixes rows where scale <= 0

    values = {"x": np.ones((3, 4))}
    for _ in range(3):
        assert batching.batchable(functools.partial(forward, scale=2.0), values, "x", 6, _sampler((3, 4)))
    verified = len(calls)
    assert verified and batching.batchable(functools.partial(forward, scale=2.0), values, "x", 6,
                                           _sampler((3, 4)))
    assert len(calls) == verified  # cached
    assert not batching.batchable(functools.partial(forward, scale=-1.0), values, "x", 6,
                                  _sampler((3, 4)))
    assert len(calls) > verified  # other attrs: verified on their own
