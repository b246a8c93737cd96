"""opcheck.memory_limit: --max-memory's RLIMIT_AS, lowered and restored."""

from __future__ import annotations

import pytest

resource = pytest.importorskip("resource")

from opcheck.memory_limit import lower_address_space, restore_address_space  # noqa: E402


def test_the_limit_is_lowered_then_restored():
    before = resource.getrlimit(resource.RLIMIT_AS)
    limit = 64 * 2**30
    if before[1] != resource.RLIM_INFINITY and before[1] < limit:
        limit = before[1]
    previous = lower_address_space(limit)
    try:
        assert previous == before
        assert resource.getrlimit(resource.RLIMIT_AS) == (limit, before[1])
    finally:
        restore_address_space(previous)
    assert resource.getrlimit(resource.RLIMIT_AS) == before
