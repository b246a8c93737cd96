"""Schema → concrete inputs: seeded sampling and the shape variants an op is audited at.

Sampling uses numpy's ``Generator`` (PCG64) seeded from integers only, so the same seed
gives bitwise the same inputs on every machine.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.random.bit_generator import ISeedSequence

from . import samplers
from .configurations import DEFAULT_VARIANT, plan  # noqa: F401 - DEFAULT_VARIANT lived here
from .spec import Op, Tensor


def rng_for(seed: int, op_name: str, variant: str) -> np.random.Generator:
    """One independent, platform-stable stream per (seed, op, variant)."""
    return np.random.Generator(np.random.PCG64(_seed_state(seed, op_name, variant)))


class _Remembered(ISeedSequence):
    """A ``SeedSequence`` whose generated states are kept: PCG64 asks for the same state
    every time, and generating it (~9 us) was most of a tiny variant's ``rng_for``."""

    def __init__(self, sequence: np.random.SeedSequence) -> None:
        self.sequence = sequence
        self.states: dict[tuple[int, str], np.ndarray] = {}

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> np.ndarray:
        key = (n_words, np.dtype(dtype).str)
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = self.sequence.generate_state(n_words, dtype)
        return state.copy()


@functools.lru_cache(maxsize=4096)
def _seed_state(seed: int, op_name: str, variant: str) -> _Remembered:
    return _Remembered(np.random.SeedSequence(
        [seed, zlib.crc32(op_name.encode()), zlib.crc32(variant.encode())]))


def variants(op: Op) -> dict[str, dict[str, int]]:
    """Variant label → dims: the declared dims, then each symbolic dim set to 1 and to
    another small size that differs from every default, so square defaults cannot hide
    a missing transpose and a batch of one cannot hide a missing sum; for an op with
    attrs, each attr configuration too (``configurations.plan`` holds their attrs)."""
    return {name: dims for name, (dims, _) in plan(op).items()}


def sample_tensor(tensor: Tensor, shape: tuple[int, ...], rng: np.random.Generator,
                  dims: Mapping[str, int] | None = None) -> np.ndarray:
    if tensor.sampler is not None:
        return samplers.draw(tensor.sampler, shape, tensor.dtype, rng)
    kind = np.dtype(tensor.dtype).kind
    low, high = tensor.bounds_at(dims or {})
    if kind == "f":
        values = rng.uniform(low, high, size=shape).astype(tensor.dtype, copy=False)
        if values.ndim:  # np.clip's own values, without its Python overhead (7 us against 3)
            np.minimum(np.maximum(values, low, out=values), high, out=values)
        else:
            values = np.clip(values, low, high)
    else:
        values = rng.integers(int(low), int(high), size=shape)
    return np.asarray(values, dtype=tensor.dtype)  # 0-d arrays, never numpy scalars


def sample_inputs(
    op: Op, dims: Mapping[str, int], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    return {
        name: sample_tensor(tensor, tensor.concrete_shape(dims), rng, dims)
        for name, tensor in op.inputs.items()
    }


def sample_cotangent(template: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random upstream gradient shaped and typed like one forward output."""
    return rng.standard_normal(template.shape).astype(template.dtype, copy=False)
