"""How values are drawn for an input declared ``Tensor(sampler=...)``.

Built-in samplers cover the constrained inputs numerical code meets most: ``"spd"``
(symmetric positive definite over the last two axes), ``"simplex"`` (positive, summing
to 1 along the last axis) and ``"orthogonal"`` (orthonormal columns, or rows, over the
last two axes). A sampler is any callable ``(rng, shape, dtype) -> ndarray``; plugins
name theirs through the ``opcheck_samplers`` hook. Every draw is checked: a sampler must
return a finite array of exactly the shape and dtype asked for.

Pure numpy, like the rest of sampling.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .errors import SamplerError

__all__ = ["BUILTIN", "SamplerError", "draw", "install", "known", "resolve"]

Sampler = Callable[[np.random.Generator, tuple[int, ...], np.dtype], np.ndarray]


def _orthonormal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    m, n = shape[-2:]
    tall = m >= n
    g = rng.standard_normal((*shape[:-2], max(m, n), min(m, n)))
    q, r = np.linalg.qr(g)
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]  # a unique, Haar Q
    return q if tall else np.swapaxes(q, -1, -2)


def spd(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Q diag(λ) Qᵀ with λ uniform in [0.5, 2]: well conditioned, so a finite-difference
    step stays far inside the cone."""
    _square("spd", shape)
    q = _orthonormal(rng, shape)
    eig = rng.uniform(0.5, 2.0, size=shape[:-1])
    a = (q * eig[..., None, :]) @ np.swapaxes(q, -1, -2)
    return ((a + np.swapaxes(a, -1, -2)) / 2).astype(dtype)


def simplex(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Uniform [0.5, 1.5] values normalised along the last axis: no entry near 0."""
    if not shape:
        raise SamplerError("sampler 'simplex' needs at least one axis (it sums to 1 along the last)")
    p = rng.uniform(0.5, 1.5, size=shape)
    return (p / p.sum(axis=-1, keepdims=True)).astype(dtype)


def orthogonal(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    if len(shape) < 2:
        raise SamplerError(f"sampler 'orthogonal' needs two axes or more, not shape {shape}")
    return _orthonormal(rng, shape).astype(dtype)


def _square(name: str, shape: tuple[int, ...]) -> None:
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise SamplerError(
            f"sampler {name!r} needs square matrices over the last two axes, not shape {shape}; "
            "use one dim name for both, e.g. shape=('B', 'N', 'N')"
        )


BUILTIN: dict[str, Sampler] = {"spd": spd, "simplex": simplex, "orthogonal": orthogonal}

#: Samplers from plugins (``opcheck_samplers``): name → (plugin, sampler), set by
#: ``opcheck.discover``, so that auditing a discovered op finds them.
_PLUGINS: dict[str, tuple[str, Sampler]] = {}


def install(table: Mapping[str, tuple[str, Sampler]]) -> None:
    _PLUGINS.clear()
    _PLUGINS.update(table)


def known() -> list[str]:
    return [*BUILTIN, *sorted(_PLUGINS)]


def resolve(sampler: str | Sampler) -> tuple[str, Sampler]:
    """(the name messages use, the callable)."""
    if callable(sampler):
        return getattr(sampler, "__qualname__", repr(sampler)), sampler
    if sampler in BUILTIN:
        return sampler, BUILTIN[sampler]
    if sampler in _PLUGINS:
        plugin, fn = _PLUGINS[sampler]
        return f"{sampler} (plugin {plugin})", fn
    raise SamplerError(f"sampler {sampler!r} is not known; the samplers are {known()} "
                       "(plugins add theirs with the opcheck_samplers hook)")


def draw(sampler: str | Sampler, shape: tuple[int, ...], dtype: str,
         rng: np.random.Generator) -> np.ndarray:
    """Draw with ``sampler`` and check what comes back."""
    name, fn = resolve(sampler)
    try:
        value = fn(rng, shape, np.dtype(dtype))
    except SamplerError:
        raise
    except Exception as exc:  # noqa: BLE001 - a sampler's own error, reported naming it
        raise SamplerError(f"sampler {name!r} raised {type(exc).__name__}: {exc} "
                           f"(asked for shape {shape}, dtype {dtype})") from None
    if not isinstance(value, np.ndarray):
        raise SamplerError(f"sampler {name!r} returned a {type(value).__name__}; it must "
                           f"return a numpy array of shape {shape} and dtype {dtype}")
    if value.shape != shape or value.dtype != np.dtype(dtype):
        raise SamplerError(
            f"sampler {name!r} returned shape {value.shape}, dtype {value.dtype}; it was asked "
            f"for shape {shape}, dtype {dtype} and must return exactly that"
        )
    if value.dtype.kind in "fc" and not np.isfinite(value).all():
        raise SamplerError(f"sampler {name!r} returned a non-finite value")
    return value
