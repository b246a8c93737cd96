"""``--shard K/N``: split a library's audit across N CI machines.

By default an op's shard depends on its name and N alone (a hash), never on the plugin
load order, the machine, or which other ops exist: every machine that sees an op puts it
in the same shard, so N shards cover each op exactly once, and adding an op never moves
another. With ``--durations FILE`` (a previous run's report), shards are balanced by
measured time instead: deterministic given the same file and selection, but adding an op
may move others.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
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


def balanced(names: Iterable[str], durations: Mapping[str, float], count: int) -> dict[str, int]:
    """Each op's 1-based shard, balancing measured time: longest first, each to the shard
    with the least time so far (ties: the lower shard). Ops without a measurement count as
    the median measured op. Depends only on the names and the durations, so every machine
    given the same file computes the same split."""
    known = sorted(v for v in durations.values() if v >= 0)
    guess = known[len(known) // 2] if known else 1.0
    cost = {name: max(0.0, float(durations.get(name, guess))) for name in set(names)}
    loads = [0.0] * count
    owner: dict[str, int] = {}
    for name in sorted(cost, key=lambda n: (-cost[n], n)):
        k = min(range(count), key=lambda i: (loads[i], i))
        owner[name] = k + 1
        loads[k] += cost[name]
    return owner


def shard_filter(names: Iterable[str], shard: Shard | None,
                 durations: Mapping[str, float] | None = None) -> Callable[[str], bool]:
    """Whether an op belongs to ``shard``: by measured cost when ``durations`` are given
    (over ``names``, the whole selection), else by name hash."""
    if shard is None:
        return lambda name: True
    if durations is None:
        return shard.holds
    owner = balanced(names, durations, shard.count)
    return lambda name: owner.get(name, shard_of(name, shard.count)) == shard.index


def balance_digest(durations: Mapping[str, float]) -> str:
    """A short fingerprint of a ``--durations`` file's figures, for the run's header."""
    text = "\n".join(f"{name}\t{durations[name]!r}" for name in sorted(durations))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
