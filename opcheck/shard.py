"""``--shard K/N``: split a library's audit across N CI machines.

An op's shard depends on its name and N alone (a hash), never on the plugin load order,
the machine, or which other ops exist: every machine that sees an op puts it in the same
shard, so N shards cover each op exactly once, and adding an op never moves another.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import NamedTuple

from .errors import UsageError


class Shard(NamedTuple):
    index: int  # 1-based, as written on the command line
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, name: str) -> bool:
        return shard_of(name, self.count) == self.index


def parse_shard(text: str) -> Shard:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise UsageError(
            f"--shard {text!r} is not K/N with 1 <= K <= N; e.g. --shard 2/4 audits the second "
            "of four slices"
        )
    return Shard(int(match[1]), int(match[2]))


def shard_of(name: str, count: int) -> int:
    """The 1-based shard of op ``name`` among ``count`` (sha256: the same on every machine)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def in_shard(names: Iterable[str], shard: Shard | None) -> list[str]:
    return [n for n in names if shard is None or shard.holds(n)]
