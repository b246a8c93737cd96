"""Cost-balanced shards (``--shard K/N --durations FILE``): longest first, deterministic,
every op in exactly one shard."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from cli_command import OPCHECK

from opcheck.shard import Shard, balanced, shard_filter, shard_of


def test_longest_first_gives_a_slow_op_a_shard_of_its_own():
    durations = {"slow": 10.0, **{f"op{k}": 1.0 for k in range(10)}}
    owner = balanced(durations, durations, 2)
    loads = [sum(d for n, d in durations.items() if owner[n] == k) for k in (1, 2)]
    assert sorted(loads) == [10.0, 10.0]
    assert [n for n in durations if owner[n] == owner["slow"]] == ["slow"]


def test_the_split_depends_only_on_the_names_and_the_file():
    durations = {f"op{k}": (k * 7 % 5) + 0.5 for k in range(40)}
    names = list(durations)
    first = balanced(names, durations, 3)
    assert balanced(list(reversed(names)), dict(reversed(list(durations.items()))), 3) == first


def test_ops_missing_from_the_file_count_as_the_median_op():
    owner = balanced(["a", "b", "c", "new"], {"a": 3.0, "b": 1.0, "c": 1.0}, 2)
    assert owner == {"a": 1, "b": 2, "c": 2, "new": 2}  # new counts 1 s: 3 s vs 3 s


def test_every_op_is_in_exactly_one_shard_and_without_a_file_the_hash_decides():
    names = [f"op{k}" for k in range(50)]
    durations = {n: float(k % 7) for k, n in enumerate(names)}
    for given in (durations, None):
        held = [[n for n in names if shard_filter(names, Shard(k, 4), given)(n)]
                for k in range(1, 5)]
        assert sorted(n for part in held for n in part) == sorted(names)
    assert shard_filter(names, Shard(2, 4))("op3") == (shard_of("op3", 4) == 2)


@pytest.fixture
def run(tmp_path):
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONPATH", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*OPCHECK, *args], check=False, cwd=tmp_path, env=env, text=True,
                              capture_output=True, timeout=300)

    return run


def test_balanced_shards_of_the_builtin_library_merge_complete(run, tmp_path):
    """A previous run's report balances the next run's shards; the merge is complete."""
    run("audit", "--jobs", "1", "--format", "json", "-o", "full.json")
    for k in (1, 2):
        result = run("audit", "--jobs", "1", "--shard", f"{k}/2", "--durations", "full.json",
                     "--format", "json", "-o", f"s{k}.json")
        assert result.returncode == 0, result.stderr
    docs = [json.loads((tmp_path / f"s{k}.json").read_text()) for k in (1, 2)]
    times = json.loads((tmp_path / "full.json").read_text())
    cost = {op["name"]: op["duration"] for op in times["ops"]}
    loads = [sum(cost[op["name"]] for op in doc["ops"]) for doc in docs]
    assert abs(loads[0] - loads[1]) <= max(cost.values())  # as even as the largest op allows
    merged = run("merge", "s1.json", "s2.json", "--format", "json")
    assert merged.returncode == 0, merged.stderr
    assert json.loads(merged.stdout)["complete"] is True
    assert len(json.loads(merged.stdout)["ops"]) == len(cost)


def test_durations_need_a_shard_and_shards_of_different_files_do_not_merge(run, tmp_path):
    assert run("audit", "matmul", "--durations", "x.json").returncode == 2
    (tmp_path / "a.json").write_text(json.dumps({"schema_version": 1, "ops": [
        {"name": "matmul", "status": "pass", "duration": 5.0}]}))
    run("audit", "--jobs", "1", "--shard", "1/2", "--durations", "a.json", "--format", "json",
        "-o", "s1.json")
    run("audit", "--jobs", "1", "--shard", "2/2", "--format", "json", "-o", "s2.json")
    merged = run("merge", "s1.json", "s2.json", "-o", os.devnull)
    assert merged.returncode == 1
    assert "were sharded with different --durations files" in merged.stderr
