"""opcheck.selection: which ops a run covers, in which order, and --variant's filter."""

from __future__ import annotations

import pytest

import opcheck
from opcheck.errors import UsageError
from opcheck.selection import all_exact, select, with_variant


@pytest.fixture(scope="module")
def registry():
    return opcheck.discover(autoload=False)


def test_patterns_keep_their_order_and_each_group_is_sorted(registry):
    chosen = select(registry, ["sigmoid_affine", "m*"])
    assert chosen[0] == "sigmoid_affine"
    assert chosen[1:] == sorted(n for n in registry if n.startswith("m"))
    assert select(registry, []) == sorted(registry)


def test_an_unknown_name_suggests_the_close_ones(registry):
    with pytest.raises(UsageError, match="did you mean matmul"):
        select(registry, ["matmull"])
    assert select(registry, ["gone.*"], broken=["gone.op"]) == []  # the report names it


def test_variant_filter(registry):
    assert all_exact(["matmul"]) and not all_exact(["mat*"]) and not all_exact([])
    assert with_variant(registry, ["matmul"], None, exact=True) == ["matmul"]
    with pytest.raises(UsageError, match="no variant 'Q=9'"):
        with_variant(registry, ["matmul"], "Q=9", exact=True)
    assert with_variant(registry, ["matmul", "sigmoid_affine"], "default", exact=False) == [
        "matmul", "sigmoid_affine"]
