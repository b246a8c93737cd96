"""A heat map of |analytic − numeric| over one input's elements, for the HTML report.

The elements are laid out as a grid: the last axis across, every leading axis flattened
down (row k of a (2, 3, 4) input is index (k // 3, k % 3, ·)). Colours are on a log
scale, since errors that matter sit orders of magnitude above the rest. With matplotlib
installed (``pip install opcheck[html]``) the map is a PNG embedded as a data URI; without
it, a table of coloured cells, so the core install stays light.

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

from ..result import InputResult

#: Largest grid the pure-HTML fallback draws; past it, the first rows only.
MAX_CELLS = 2048
#: viridis at 0, 1/4, 1/2, 3/4 and 1: the fallback's colour scale.
_VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
_UNKNOWN = "#d9d9d9"


def error_grid(item: InputResult) -> tuple[list[list[float | None]], bool]:
    """The input's |a − n| as rows × last axis, and whether every element is known."""
    shape = tuple(item.shape) or (1,)
    cols = shape[-1] if shape[-1] > 0 else 1
    size = math.prod(shape)
    values: list[float | None] = [None] * size
    recorded = getattr(item, "abs_errors", None)
    complete = recorded is not None and len(recorded) == size
    if complete:
        values = [None if v is None or not math.isfinite(v) else abs(float(v)) for v in recorded]
    else:
        for element in [*item.mismatches, *item.unresolved, *([item.worst] if item.worst else [])]:
            flat = _flat_index(tuple(element.index), shape)
            if flat is not None and math.isfinite(element.abs_error):
                values[flat] = abs(element.abs_error)
    rows = max(1, size // cols)
    return [values[r * cols:(r + 1) * cols] for r in range(rows)], complete


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
    """log10 bounds of the colour scale: the largest error and 8 decades below it."""
    known = [v for row in grid for v in row if v is not None and v > 0]
    if not known:
        return -1.0, 0.0
    top = math.log10(max(known))
    return max(math.log10(min(known)), top - 8.0), top


def heatmap_html(item: InputResult, caption: str) -> str:
    """The heat map of one input as an HTML fragment (``caption`` is escaped here)."""
    grid, complete = error_grid(item)
    note = "" if complete else (
        " Only the worst elements were recorded; grey cells are elements whose error the "
        "report does not hold.")
    layout = (f"rows: indices over axes 0..{len(item.shape) - 2} flattened, columns: last axis"
              if len(item.shape) > 2 else "")
    text = html.escape(f"{caption}. |analytic − numeric|, log colour scale.{note} {layout}".strip())
    try:
        image = _png(grid)
    except ImportError:
        return f'<figure class="heatmap">{_cells(grid, item.shape)}<figcaption>{text}</figcaption></figure>'
    return (f'<figure class="heatmap"><img alt="{html.escape(caption)}" '
            f'src="data:image/png;base64,{image}"><figcaption>{text}</figcaption></figure>')


def _png(grid: list[list[float | None]]) -> str:
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    low, high = _scale(grid)
    values = np.array([[np.nan if v is None else v for v in row] for row in grid], dtype=float)
    data = np.ma.masked_invalid(np.where(values <= 0, 10.0**low, values))  # 0 at the bottom
    rows, cols = data.shape
    fig = Figure(figsize=(min(10.0, max(3.6, 1.8 + 0.35 * cols)),
                          min(8.0, max(2.2, 1.0 + 0.3 * rows))), dpi=96)
    ax = fig.subplots()
    cmap = colormaps["viridis"].with_extremes(bad=_UNKNOWN)
    image = ax.imshow(data, cmap=cmap, norm=LogNorm(vmin=10.0**low, vmax=10.0**high, clip=True),
                      aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="|analytic − numeric|")
    ax.set_xlabel("last axis")
    ax.set_ylabel("row" if rows > 1 else "")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _cells(grid: list[list[float | None]], shape: Sequence[int]) -> str:
    low, high = _scale(grid)
    cols = len(grid[0]) if grid else 0
    keep = max(1, MAX_CELLS // max(1, cols))
    rows = grid[:keep]
    out = ['<table class="heat">']
    for r, row in enumerate(rows):
        cells = []
        for c, value in enumerate(row):
            index = _unflatten(r * cols + c, tuple(shape) or (1,))
            if value is None:
                cells.append(f'<td style="background:{_UNKNOWN}" title="{index}: not recorded"></td>')
            else:
                cells.append(f'<td style="background:{_colour(value, low, high)}" '
                             f'title="{index}: {value:.3g}"></td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    if len(grid) > keep:
        out.append(f'<p class="note">first {keep} of {len(grid)} rows</p>')
    out.append(f'<p class="scale">{_legend(low, high)}</p>')
    return "".join(out)


def _unflatten(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
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
