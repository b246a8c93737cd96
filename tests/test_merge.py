"""``opcheck merge`` integrity: a merged report is complete only when every shard of one
run is there, from the same opcheck, plugins, selection and budget, with exactly one result
for every selected op; anything else is flagged (exit 1, ``"complete": false``)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from cli_command import OPCHECK

from opcheck.errors import UsageError
from opcheck.merge import Loaded, merge, run_identity
from opcheck.formats.json_report import render_json
from opcheck.result import OpReport

EVERY = ["a", "b", "c", "d"]
SHARDS = {"1/2": ["a", "c"], "2/2": ["b", "d"]}


def _shard(path: str, shard: str = "1/2", ops=None, *, results=None, **meta) -> Loaded:
    ops = SHARDS[shard] if ops is None else ops
    head = {"tool": "opcheck", "opcheck_version": "0.1.0", "seed": 0, "mode": "full",
            "variant": None, "select": [], "shard": shard,
            **run_identity(["builtin", "mylib"], EVERY, ops), **meta}
    got = ops if results is None else results
    return Loaded(path, head, [OpReport(name=n, status="pass") for n in got])


def test_the_shards_of_one_run_merge_complete():
    meta, reports, problems = merge([_shard("one", "1/2"), _shard("two", "2/2")])
    assert problems == [] and [r.name for r in reports] == EVERY
    assert meta["selected"] == EVERY and "merge_problems" not in meta
    assert json.loads(render_json(reports, **meta))["complete"] is True


@pytest.mark.parametrize(("second", "problem"), [
    pytest.param(_shard("two", "2/2", results=["b"]),
                 "'two' (shard 2/2) is incomplete: 1 of its 2 ops have no result (d); rerun it "
                 "with --resume", id="a-stream-cut-short"),
    pytest.param(_shard("two", "2/2", plugins=["builtin"]),
                 "the inputs ran with different plugins (-p): only 'one' loaded mylib",
                 id="different-plugins"),
    pytest.param(_shard("two", "2/2", opcheck_version="0.2.0"),
                 "the inputs were written by different opcheck versions: 'one' has '0.1.0', "
                 "'two' has '0.2.0'", id="different-versions"),
    pytest.param(_shard("two", "2/2", budget=5.0),
                 "the inputs ran with different --budget: 'one' has None, 'two' has 5.0",
                 id="different-budgets"),
    pytest.param(_shard("two", "2/2", select=["b*"]),
                 "the inputs ran with different NAME patterns: 'one' has [], 'two' has ['b*']",
                 id="different-patterns"),
    pytest.param(_shard("two", "2/2", **{k: v for k, v in run_identity(
                     ["builtin", "mylib"], [*EVERY, "e"], ["b", "d"]).items() if k == "selection"}),
                 "the inputs selected different ops", id="different-selections"),
    pytest.param(_shard("two", "1/2"), "op 'a' has a result in both 'one' and 'two'",
                 id="an-op-twice"),
    pytest.param(_shard("two", "3/3", ops=["b", "d"]),
                 "the inputs come from different shardings", id="different-shardings"),
])
def test_a_bad_merge_is_flagged_naming_what_is_wrong(second, problem):
    meta, reports, problems = merge([_shard("one", "1/2"), second])
    assert any(p.startswith(problem) for p in problems), problems
    assert meta["merge_problems"] == problems
    assert json.loads(render_json(reports, **meta))["complete"] is False


def test_a_missing_shard_makes_the_merge_incomplete():
    _, _, problems = merge([_shard("one", "1/2")])
    assert problems == ["shard 2/2 is missing: its ops are not in the merged report"]


@pytest.mark.parametrize("key", ["seed", "mode", "variant"])
def test_shards_of_different_audits_are_refused(key):
    with pytest.raises(UsageError, match=f"{key}="):
        merge([_shard("one", "1/2"), _shard("two", "2/2", **{key: "other"})])


@pytest.mark.slow  # starts processes
def test_the_command_flags_a_cut_stream_and_other_plugins(tmp_path):
    """The issue's cases, end to end: exit 1, "complete": false, the reason on stderr."""
    (tmp_path / "extra_ops.py").write_text(
        "import opcheck\n"
        "@opcheck.hookimpl\n"
        "def opcheck_ops():\n"
        "    return [opcheck.Op(name=f'extra.{k}', forward=lambda x: 2 * x,\n"
        "                       backward=lambda dout, x: {'x': 2 * dout},\n"
        "                       inputs={'x': opcheck.Tensor(shape=(2,))}) for k in range(8)]\n")
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONPATH", None)

    def run(*args):
        return subprocess.run([*OPCHECK, *args], check=False, cwd=tmp_path, env=env, text=True,
                              capture_output=True, timeout=120)

    for k in (1, 2):
        run("audit", "matmul", "extra.*", "-p", "extra_ops", "--shard", f"{k}/2", "--jobs", "1",
            "--results", f"s{k}.jsonl", "-o", os.devnull)
    run("audit", "matmul", "--shard", "2/2", "--jobs", "1", "--results", "other.jsonl",
        "-o", os.devnull)
    good = run("merge", "s1.jsonl", "s2.jsonl", "--format", "json")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["complete"] is True
    lines = (tmp_path / "s2.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "cut.jsonl").write_text("".join(lines[:2]))
    cut = run("merge", "s1.jsonl", "cut.jsonl", "--format", "json")
    assert cut.returncode == 1 and json.loads(cut.stdout)["complete"] is False
    assert "'cut.jsonl' (shard 2/2) is incomplete:" in cut.stderr
    other = run("merge", "s1.jsonl", "other.jsonl", "--format", "json")
    assert other.returncode == 1 and json.loads(other.stdout)["complete"] is False
    assert "only 's1.jsonl' loaded extra_ops" in other.stderr


@pytest.mark.parametrize("version", [0, "1", True, None])
def test_load_refuses_a_schema_version_it_cannot_read(tmp_path, version):
    from opcheck import merge as merge_module
    from opcheck.formats.json_report import JSON_SCHEMA_VERSION

    path = tmp_path / "old.json"
    path.write_text(json.dumps({"schema_version": version, "ops": []}))
    with pytest.raises(UsageError, match="schema_version"):
        merge_module.load(str(path))
    path.write_text(json.dumps({"schema_version": JSON_SCHEMA_VERSION + 1, "ops": []}))
    with pytest.raises(UsageError, match=f"schema_version {JSON_SCHEMA_VERSION + 1}"):
        merge_module.load(str(path))


def test_load_reads_the_version_this_opcheck_writes(tmp_path, monkeypatch):
    from opcheck import merge as merge_module

    monkeypatch.setattr(merge_module, "JSON_SCHEMA_VERSION", 2)  # a future version bump
    path = tmp_path / "new.json"
    path.write_text(json.dumps({"schema_version": 2, "ops": []}))
    assert merge_module.load(str(path)).reports == []


def test_shards_audited_at_different_orders_do_not_merge():
    with pytest.raises(UsageError, match=r"'one' \(order=2\) with 'two' \(order=1\): shards must "
                                         r"audit with the same --seed, --mode, --variant and --order"):
        merge([_shard("one", "1/2", order=2), _shard("two", "2/2", order=1)])


def test_a_header_without_order_was_written_at_order_2():
    """Reports from before the header recorded ``order`` merge with order-2 ones, and the
    merged header says order 2."""
    meta, _, problems = merge([_shard("one", "1/2"), _shard("two", "2/2", order=2)])
    assert problems == [] and meta["order"] == 2
    with pytest.raises(UsageError, match="order=2.*order=1"):
        merge([_shard("one", "1/2"), _shard("two", "2/2", order=1)])


@pytest.mark.parametrize(("content", "why"), [
    pytest.param("", "it is empty", id="empty"),
    pytest.param("hello", "its first line is not JSON", id="text-without-newline"),
    pytest.param("hello\nworld\n", "its first line is not JSON", id="text"),
    pytest.param('{"a": 1}\n', 'it is JSON without the "ops" list of a report', id="json-object"),
    pytest.param('{"opcheck_baseline": 1, "known_failures": {}}\n',
                 "it is a --baseline file of known failures", id="a-baseline"),
    pytest.param('{"old_path": "a", "new_path": "b", "regressions": [], "fixes": []}\n',
                 "it is a comparison of two runs (opcheck diff --format json)", id="a-diff"),
    pytest.param('{"name": "x", "status": "pass"}\n{"name": "y", "status": "pass"}\n',
                 "its first line is not the header of a results stream", id="no-header"),
])
@pytest.mark.parametrize("role", ["OLD", "--durations", ""])
def test_a_file_that_is_neither_a_report_nor_a_stream_says_what_was_expected(
        tmp_path, content, why, role):
    from opcheck.merge import load

    path = tmp_path / "f.txt"
    path.write_text(content)
    named = f"{role} {path}" if role else repr(str(path))
    with pytest.raises(UsageError) as raised:
        load(str(path), role)
    assert str(raised.value) == (f"{named} is neither a JSON report (opcheck audit --format "
                                 f"json) nor a results stream (opcheck audit --results): {why}")


def test_a_file_given_twice_is_one_usage_error():
    from opcheck.errors import UsageError

    with pytest.raises(UsageError, match=r"'one' given more than once; name each shard's file once"):
        merge([_shard("one", "1/2"), _shard("two", "2/2"), _shard("one", "1/2")])
