"""A heat map of |analytic − numeric| over one input's elements, for the HTML report.

The elements are laid out as a grid: the last axis across, every leading axis flattened
down (row k of a (2, 3, 4) input is index (k // 3, k % 3, ·)); a last axis longer than
``MAX_COLUMNS`` is wrapped, each row holding that many consecutive elements in C order.
A grid too large to draw is cut to a window of rows around the worst element, so the
element that failed is always on the map. Colours are on a log scale, since errors that
matter sit orders of magnitude above the rest. With matplotlib installed
(``pip install opcheck[html]``) the map is a PNG embedded as a data URI; without it, a
table of coloured cells, so the core install stays light.

The figures come from ``InputResult.abs_errors`` (every element, in C order) where the
audit recorded them; otherwise only the worst elements it kept are known, and the rest
of the grid is grey.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from typing import NamedTuple

from ..result import InputResult

#: Largest grid the pure-HTML fallback draws (each cell is a table cell in the page).
MAX_CELLS = 2048
#: Most rows the PNG draws: at 8 inches and 96 dpi, each row still gets 2-3 pixels (a
#: taller image is resampled, and a one-element spike can vanish).
MAX_IMAGE_ROWS = 256
#: A longer last axis is wrapped: a single row of thousands of cells hides a spike.
MAX_COLUMNS = 64
#: viridis at 0, 1/4, 1/2, 3/4 and 1: the fallback's colour scale.
_VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
_UNKNOWN = "#d9d9d9"


class Grid(NamedTuple):
    """The rows of the map that are drawn, and where they sit in the whole grid."""

    rows: list[list[float | None]]  # |a − n| per element (None: not known)
    first: int  # the whole grid's index of rows[0]
    total: int  # rows in the whole grid
    cols: int  # elements per row (the last row of a wrapped axis may hold fewer)
    complete: bool  # every element's error was recorded
    last_axis: int  # the input's last axis: longer than ``cols`` when it is wrapped

    @property
    def wrapped(self) -> bool:
        return self.cols < self.last_axis


def layout(shape: Sequence[int]) -> tuple[int, int]:
    """(rows, columns) of the whole grid of an input of ``shape``."""
    dims = tuple(shape) or (1,)
    size = math.prod(dims)
    cols = min(dims[-1], MAX_COLUMNS) if dims[-1] > 0 else 1
    return max(1, -(-size // cols)), cols


def error_grid(item: InputResult, max_rows: int | None = None) -> Grid:
    """The input's |a − n| as rows × columns: all of it, or at most ``max_rows`` rows in a
    window around the worst element (only the window is built: an input too large to
    record may be too large to list)."""
    dims = tuple(item.shape) or (1,)
    size = math.prod(dims)
    total, cols = layout(dims)
    recorded = getattr(item, "abs_errors", None)
    complete = recorded is not None and len(recorded) == size
    known: dict[int, float] = {}
    if not complete:
        for element in [*item.mismatches, *item.unresolved, *([item.worst] if item.worst else [])]:
            flat = _flat_index(tuple(element.index), dims)
            if flat is not None and math.isfinite(element.abs_error):
                known[flat] = abs(element.abs_error)
    keep = total if max_rows is None else max(1, max_rows)
    start = 0
    if keep < total:
        start = min(max(0, _worst_flat(item, dims, recorded if complete else None, known) // cols
                        - keep // 2), total - keep)
    stop = min(total, start + keep)
    if complete:
        values = [None if v is None or not math.isfinite(v) else abs(float(v))
                  for v in recorded[start * cols:stop * cols]]
    else:
        values = [known.get(flat) for flat in range(start * cols, min(size, stop * cols))]
    rows = [values[r * cols:(r + 1) * cols] for r in range(stop - start)]
    return Grid(rows, start, total, cols, complete, dims[-1])


def _worst_flat(item: InputResult, dims: tuple[int, ...], recorded: Sequence[float | None] | None,
                known: dict[int, float]) -> int:
    """The flat index of the element the map must show: the worst failing one."""
    if item.worst is not None:
        flat = _flat_index(tuple(item.worst.index), dims)
        if flat is not None:
            return flat
    values = recorded if recorded is not None else known
    pairs = enumerate(values) if recorded is not None else values.items()
    finite = [(v, i) for i, v in pairs if v is not None and math.isfinite(v)]
    return max(finite)[1] if finite else 0


def _flat_index(index: tuple[int, ...], shape: tuple[int, ...]) -> int | None:
    if not index:
        return 0
    if len(index) != len(shape) or any(not 0 <= i < n for i, n in zip(index, shape)):
        return None
    flat = 0
    for i, n in zip(index, shape):
        flat = flat * n + i
    return flat


def _scale(grid: Sequence[Sequence[float | None]]) -> tuple[float, float]:
    """log10 bounds of the colour scale: the largest error and at most 8 decades below it
    (at least one: a lone nonzero error among zeros must not share their colour)."""
    known = [v for row in grid for v in row if v is not None and v > 0]
    if not known:
        return -1.0, 0.0
    top = math.log10(max(known))
    return min(top - 1.0, max(math.log10(min(known)), top - 8.0)), top


def heatmap_html(item: InputResult, caption: str) -> str:
    """The heat map of one input as an HTML fragment (``caption`` is escaped here)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        grid = error_grid(item, MAX_CELLS // layout(item.shape)[1])
        body = _cells(grid, item.shape)
    else:
        grid = error_grid(item, MAX_IMAGE_ROWS)
        body = (f'<img alt="{html.escape(caption)}" '
                f'src="data:image/png;base64,{_png(grid)}">')
    text = html.escape(_caption(item, caption, grid))
    return f'<figure class="heatmap">{body}<figcaption>{text}</figcaption></figure>'


def _caption(item: InputResult, caption: str, grid: Grid) -> str:
    parts = [f"{caption}. |analytic − numeric|, log colour scale."]
    if not grid.complete:
        parts.append("Only the worst elements were recorded; grey cells are elements whose "
                     "error the report does not hold.")
    if grid.wrapped:
        parts.append(f"Each row holds {grid.cols} consecutive elements in C order (the last "
                     f"axis, of {grid.last_axis}, is wrapped).")
    elif len(item.shape) > 2:
        parts.append(f"rows: indices over axes 0..{len(item.shape) - 2} flattened, columns: "
                     "last axis")
    if len(grid.rows) < grid.total:
        parts.append(f"Rows {grid.first}–{grid.first + len(grid.rows) - 1} of {grid.total}, "
                     "around the worst element.")
    return " ".join(parts)


def _png(grid: Grid) -> str:
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    low, high = _scale(grid.rows)
    rows, cols = len(grid.rows), grid.cols
    values = np.full((rows, cols), np.nan)
    for r, row in enumerate(grid.rows):  # the last row of a wrapped axis may be short
        values[r, :len(row)] = [np.nan if v is None else v for v in row]
    data = np.ma.masked_invalid(np.where(values <= 0, 10.0**low, values))  # 0 at the bottom
    fig = Figure(figsize=(min(10.0, max(3.6, 1.8 + 0.35 * cols)),
                          min(8.0, max(2.2, 1.0 + 0.3 * rows))), dpi=96)
    ax = fig.subplots()
    cmap = colormaps["viridis"].with_extremes(bad=_UNKNOWN)
    image = ax.imshow(data, cmap=cmap, norm=LogNorm(vmin=10.0**low, vmax=10.0**high, clip=True),
                      aspect="auto", interpolation="nearest",
                      extent=(-0.5, cols - 0.5, grid.first + rows - 0.5, grid.first - 0.5))
    fig.colorbar(image, ax=ax, label="|analytic − numeric|")
    ax.set_xlabel("element in the row" if grid.wrapped else "last axis")
    ax.set_ylabel("row" if grid.total > 1 else "")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _cells(grid: Grid, shape: Sequence[int]) -> str:
    low, high = _scale(grid.rows)
    missing = "not compared" if grid.complete else "not recorded"
    out = ['<table class="heat">']
    for r, row in enumerate(grid.rows):
        cells = []
        for c, value in enumerate(row):
            index = _unflatten((grid.first + r) * grid.cols + c, tuple(shape))
            if value is None:
                cells.append(f'<td style="background:{_UNKNOWN}" title="{index}: {missing}"></td>')
            else:
                cells.append(f'<td style="background:{_colour(value, low, high)}" '
                             f'title="{index}: {value:.3g}"></td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    out.append(f'<p class="scale">{_legend(low, high)}</p>')
    return "".join(out)


def _unflatten(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The index of element ``flat`` (C order); () for a scalar, as reports write it."""
    index = []
    for n in reversed(shape):
        index.append(flat % n if n else 0)
        flat = flat // n if n else 0
    return tuple(reversed(index))


def _colour(value: float, low: float, high: float) -> str:
    t = 0.0 if value <= 0 else (math.log10(value) - low) / (high - low) if high > low else 1.0
    t = min(1.0, max(0.0, t)) * (len(_VIRIDIS) - 1)
    k = min(int(t), len(_VIRIDIS) - 2)
    a, b = _VIRIDIS[k], _VIRIDIS[k + 1]
    frac = t - k
    r, g, bl = (round(a[i] + (b[i] - a[i]) * frac) for i in range(3))
    return f"#{r:02x}{g:02x}{bl:02x}"


def _legend(low: float, high: float) -> str:
    stops = [f'<span style="background:{_colour(10.0**(low + (high - low) * k / 4), low, high)}">'
             "&nbsp;&nbsp;&nbsp;</span>" for k in range(5)]
    return f"{10.0**low:.1e} {''.join(stops)} {10.0**high:.1e}"
