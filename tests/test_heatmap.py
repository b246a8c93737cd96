"""The HTML report's heat map (``opcheck.formats.heatmap``): the wrong element stands out,
a large input is cut to a window around it, a long last axis is wrapped, and names are
escaped; in both renderings (a PNG with matplotlib, a table of cells without it)."""

from __future__ import annotations

import builtins
import math
import re

import numpy as np
import pytest

import opcheck
from opcheck.formats import heatmap
from opcheck.formats.heatmap import MAX_CELLS, MAX_COLUMNS, error_grid, heatmap_html, layout
from opcheck.frontend import audit
from opcheck.result import Element, InputResult

TOP, BOTTOM = "#fde725", "#440154"  # viridis' ends: the worst error, the smallest


def _item(shape: tuple[int, ...], bad: tuple[int, ...], *, rest: float = 1e-10,
          recorded: bool = True) -> InputResult:
    """A failing input of ``shape`` whose one wrong element is ``bad`` (|a - n| = 0.5)."""
    size = math.prod(shape)
    errors: list[float | None] = [rest] * size
    errors[int(np.ravel_multi_index(bad, shape)) if shape else 0] = 0.5
    worst = Element(bad, 1.0, 0.5, 0.5, 1 / 3, 1e-9, "fail")
    return InputResult("x", shape, "float64", "fail", {"pass": size - 1, "fail": 1},
                       max_rel_error=1 / 3, max_abs_error=0.5, worst=worst, mismatches=[worst],
                       abs_errors=errors if recorded else None)


@pytest.fixture
def no_matplotlib(monkeypatch):
    """The core install: ``import matplotlib`` fails, the map is a table of cells."""
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def _cells(fragment: str) -> dict[str, str]:
    """index text → colour of every cell of the fallback table."""
    found = re.findall(r'<td style="background:(#[0-9a-f]{6})" title="([^:]*):', fragment)
    return {index: colour for colour, index in found}


def test_the_wrong_element_is_the_one_cell_at_the_top_of_the_scale(no_matplotlib):
    cells = _cells(heatmap_html(_item((3, 4), (1, 2)), "x"))
    assert len(cells) == 12
    assert cells.pop("(1, 2)") == TOP
    assert set(cells.values()) == {BOTTOM}  # 9 decades below: clipped to the bottom


def test_a_lone_error_among_exact_zeros_does_not_share_their_colour(no_matplotlib):
    """An exact rule everywhere but one element: the scale still spans a decade, so the
    zeros sit at the bottom and the wrong element at the top (the PNG drew both the same)."""
    item = _item((3, 4), (2, 0), rest=0.0)
    low, high = heatmap._scale(error_grid(item).rows)
    assert low < high
    cells = _cells(heatmap_html(item, "x"))
    assert cells.pop("(2, 0)") == TOP and set(cells.values()) == {BOTTOM}


def test_the_grid_is_every_elements_error_in_c_order():
    item = _item((2, 3, 4), (1, 2, 3))
    grid = error_grid(item)
    assert grid.complete and (grid.first, grid.total, grid.cols) == (0, 6, 4)
    assert grid.rows[5][3] == 0.5  # row k of a (2, 3, 4) input is index (k // 3, k % 3, .)
    assert sum(v for row in grid.rows for v in row) == pytest.approx(0.5 + 23e-10)


def test_a_tall_input_is_cut_to_rows_around_the_worst_element(no_matplotlib):
    """4000 rows of 4 are recorded in full, but the table holds 2048 cells: the rows shown
    are those around the wrong element, not the first 512."""
    item = _item((4000, 4), (3000, 2))
    fragment = heatmap_html(item, "x")
    cells = _cells(fragment)
    assert len(cells) == MAX_CELLS and cells["(3000, 2)"] == TOP
    grid = error_grid(item, MAX_CELLS // 4)
    assert grid.first <= 3000 < grid.first + len(grid.rows) and grid.total == 4000
    assert f"Rows {grid.first}–{grid.first + 511} of 4000, around the worst element." in fragment


@pytest.mark.parametrize("bad", [(0, 0), (3999, 3)], ids=["first", "last"])
def test_the_window_stays_inside_the_grid(bad):
    grid = error_grid(_item((4000, 4), bad), 512)
    assert len(grid.rows) == 512 and 0 <= grid.first <= 4000 - 512
    assert 0.5 in grid.rows[bad[0] - grid.first]


def test_a_long_last_axis_is_wrapped_into_rows(no_matplotlib):
    """A 1-D input of 10,000 elements was one row of 10,000 cells (a page of megabytes, and
    a PNG whose one wrong pixel column was lost to resampling)."""
    assert layout((10_000,)) == (157, MAX_COLUMNS) and layout((3, 100)) == (5, MAX_COLUMNS)
    item = _item((10_000,), (9001,))
    fragment = heatmap_html(item, "x")
    cells = _cells(fragment)
    assert len(cells) <= MAX_CELLS and cells["(9001,)"] == TOP
    assert "Each row holds 64 consecutive elements in C order" in fragment
    grid = error_grid(item)
    assert [len(row) for row in grid.rows[-2:]] == [64, 10_000 - 156 * 64]  # the last is short


def test_an_input_too_large_to_record_shows_its_worst_elements_and_builds_only_a_window(
        no_matplotlib):
    """10 million elements: only the worst were kept; the map holds the window around them,
    never a list of every element."""
    item = _item((10_000_000,), (7_654_321,), recorded=False)
    other = Element((7_654_300,), 0.0, 0.1, 0.1, 1.0, 1e-9, "fail")
    item.mismatches.append(other)
    grid = error_grid(item, MAX_CELLS // MAX_COLUMNS)
    assert not grid.complete and len(grid.rows) * grid.cols == MAX_CELLS
    fragment = heatmap_html(item, "x")
    cells = _cells(fragment)
    assert cells["(7654321,)"] == TOP and cells["(7654300,)"] not in (TOP, heatmap._UNKNOWN)
    assert fragment.count("not recorded") == len(cells) - 2
    assert "Only the worst elements were recorded" in fragment


def test_elements_not_compared_are_grey_and_say_so(no_matplotlib):
    item = _item((2, 3), (0, 1))
    item.abs_errors[4] = None  # a kink: no numerical derivative to compare
    fragment = heatmap_html(item, "x")
    assert f'<td style="background:{heatmap._UNKNOWN}" title="(1, 1): not compared">' in fragment
    assert "not recorded" not in fragment  # every element was recorded


def test_a_scalar_input_is_indexed_as_reports_write_it(no_matplotlib):
    assert _cells(heatmap_html(_item((), ()), "x")) == {"()": TOP}


def test_an_empty_input_draws_an_empty_map(no_matplotlib):
    item = InputResult("x", (0, 3), "float64", "fail", {}, abs_errors=[])
    assert '<figure class="heatmap"><table class="heat">' in heatmap_html(item, "x")


HOSTILE = "input 'x' of <script>alert(\"op\")</script> & co"


def test_the_caption_is_escaped_in_the_table(no_matplotlib):
    fragment = heatmap_html(_item((2, 2), (0, 0)), HOSTILE)
    assert "<script" not in fragment
    assert "&lt;script&gt;alert(&quot;op&quot;)&lt;/script&gt; &amp; co" in fragment


def test_the_caption_is_escaped_in_the_image_and_its_alt_text():
    pytest.importorskip("matplotlib")
    fragment = heatmap_html(_item((2, 2), (0, 0)), HOSTILE)
    assert 'src="data:image/png;base64,' in fragment and "<script" not in fragment
    assert 'alt="input &#x27;x&#x27; of &lt;script&gt;alert(&quot;op&quot;)' in fragment


@pytest.mark.parametrize("shape, bad", [((3, 4), (1, 2)), ((10_000,), (9001,)),
                                        ((4000, 4), (3000, 2))], ids=["small", "wide", "tall"])
def test_the_png_shows_the_wrong_element_in_the_top_colour(shape, bad):
    """Decoded, the image holds two blocks of viridis' top colour: the wrong element and
    the colour bar's top (a spike lost to resampling, or drawn in the zeros' colour, leaves
    only the bar's)."""
    pytest.importorskip("matplotlib")
    import base64
    import io

    from matplotlib.image import imread

    data = re.search(r'base64,([^"]+)"', heatmap_html(_item(shape, bad, rest=0.0), "x"))[1]
    rgb = imread(io.BytesIO(base64.b64decode(data)))[..., :3] * 255
    yellow = (rgb[..., 0] > 200) & (rgb[..., 1] > 200) & (rgb[..., 2] < 100)
    columns = np.flatnonzero(yellow.any(axis=0))
    blocks = 1 + int(np.sum(np.diff(columns) > 1))
    assert blocks == 2  # the wrong element's cell, then the top of the colour bar


def _wrong_at_one(dout, x):
    grad = 2.0 * dout
    grad[150, 7] *= 3.0
    return {"x": grad}


@pytest.mark.slow  # a full audit of 10,000 elements
def test_an_audited_op_wrong_at_one_element_shows_it(no_matplotlib):
    op = opcheck.Op(name="one_wrong", forward=lambda x: 2.0 * x, backward=_wrong_at_one,
                    inputs={"x": opcheck.Tensor(shape=("N", "D"))}, dims={"N": 200, "D": 50})
    report = audit(op, mode="full", variant="default")
    (item,) = report.variants[0].inputs
    assert item.status == "fail" and item.abs_errors is not None
    cells = _cells(heatmap_html(item, "x"))
    assert len(cells) <= MAX_CELLS and cells["(150, 7)"] == TOP
    assert sum(colour == TOP for colour in cells.values()) == 1
