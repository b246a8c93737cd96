"""Which elements a sampled check compares one by one, and how a report says what it covered.

A covering sample holds, for every axis and every index along it, one element with that
index (every row, column and channel is touched), the corners (every border meets
one), and random elements: a bug confined to one row, one channel or an edge is seen
element by element, and projections over all elements see the rest.
"""

from __future__ import annotations

import functools

import numpy as np

#: Random elements added to the covering sample.
RANDOM_ELEMENTS = 256
#: Corners (2**ndim) are capped at this many.
CORNERS = 64


def covering_sample(shape: tuple[int, ...], rng: np.random.Generator,
                    limit: int | None = None, random: int = RANDOM_ELEMENTS) -> np.ndarray:
    """Sorted unique flat indices of a sample that touches every index of every axis,
    every corner, and ``random`` more elements; at most ``limit`` of them (corners first,
    then a random part of the axis cover, then random elements)."""
    size = int(np.prod(shape)) if shape else 1
    if not shape or size <= 1:
        return np.arange(size)
    corners = min(CORNERS, 2 ** len(shape))
    bits = (np.arange(corners)[:, None] >> np.arange(len(shape))) & 1
    first = np.ravel_multi_index([b * (n - 1) for b, n in zip(bits.T, shape)], shape)
    axes: list[np.ndarray] = []
    for axis, extent in enumerate(shape):
        coords = [rng.integers(0, n, size=extent) for n in shape]
        coords[axis] = np.arange(extent)
        axes.append(np.ravel_multi_index(coords, shape))
    cover = rng.permutation(np.concatenate(axes))
    extra = rng.integers(0, size, size=min(random, size))
    ordered = np.concatenate([first, cover, extra])
    _, where = np.unique(ordered, return_index=True)
    kept = ordered[np.sort(where)]  # unique, in priority order
    if limit is not None:
        kept = kept[: max(1, limit)]
    return np.sort(kept)


@functools.lru_cache(maxsize=1024)
def describe(projections: int, sampled: int, size: int, joint: bool = False) -> str:
    """"all 32,768 elements" or "4 projections + 1,024 sampled elements" ("4 joint
    projections" where they moved every input at once)."""
    if sampled >= size and not projections:
        return f"all {size:,} elements"
    parts = [f"{projections} {'joint ' if joint else ''}projections"] if projections else []
    if sampled:
        parts.append(f"{sampled:,} sampled elements" if sampled < size else f"all {size:,} elements")
    return " + ".join(parts) + f" (of {size:,})" if sampled < size else " + ".join(parts)
