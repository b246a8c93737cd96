"""``opcheck diff``: regressions, fixes, new and removed ops and error growth between two
runs, in text, Markdown and JSON, with exit 1 on a regression."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_command import OPCHECK

from opcheck.comparison import compare
from opcheck.formats.diff import render_markdown, render_text
from opcheck.result import InputResult, OpReport, VariantResult

DATA = Path(__file__).parent / "data" / "batch"


def _op(name: str, status: str, error: float | None = None, message: str = "") -> OpReport:
    inputs = [] if error is None else [InputResult("x", (3,), "float64", "pass", {"pass": 3},
                                                   max_rel_error=error)]
    return OpReport(name=name, status=status, message=message,
                    variants=[VariantResult("default", {"N": 3}, 0, inputs=inputs)])


OLD = [_op("a", "pass", 1e-9), _op("b", "fail", 0.3, "mismatch"), _op("c", "pass", 1e-10),
       _op("d", "xfail", 0.2), _op("gone", "pass", 0.0), _op("e", "pass", 0.0)]
NEW = [_op("a", "error", None, "forward raised"), _op("b", "pass", 1e-9),
       _op("c", "pass", 5e-8), _op("d", "fail", 0.2, "no longer listed"),
       _op("new", "fail", 0.5, "wrong"), _op("e", "pass", 1e-17)]


def test_compare_sorts_every_op():
    c = compare(OLD, NEW, factor=10.0)
    assert [ch.name for ch in c.regressions] == ["a"]
    assert [ch.name for ch in c.fixes] == ["b"]
    assert [(ch.name, ch.old, ch.new) for ch in c.changed] == [("d", "xfail", "fail")]
    assert [ch.name for ch in c.added] == ["new"] and [ch.name for ch in c.removed] == ["gone"]
    assert [ch.name for ch in c.growth] == ["c"]  # 500x; e's 1e-17 from exact is rounding
    assert c.unchanged == 2  # c (its growth is listed apart) and e
    assert c.regressions[0].message == "forward raised"


def test_the_growth_factor_is_an_option():
    assert compare(OLD, NEW, factor=1000.0).growth == []


def test_renderers_name_the_regression():
    c = compare(OLD, NEW, old_path="main.json", new_path="pr.json")
    text = render_text(c)
    assert text.splitlines()[0] == ("opcheck diff main.json pr.json: 1 regression, 1 fixed, "
                                    "1 changed, 1 new op, 1 removed op, 1 error growth "
                                    "(2 ops unchanged)")
    assert "  a  pass -> error" in text and "forward raised" in text
    markdown = render_markdown(c)
    assert markdown.startswith("### ❌ opcheck diff: 1 regression")
    assert "| a | pass → error | 1.00e-09 → - | forward raised |" in markdown


def test_runs_with_different_seeds_are_compared_with_a_note():
    c = compare(OLD, NEW, old_meta={"seed": 0}, new_meta={"seed": 1})
    assert c.notes == ["the runs differ in seed (0 vs 1): figures may change for that alone"]


def test_runs_at_different_orders_are_compared_with_a_note():
    """A report from before the header recorded ``order`` was written at order 2."""
    c = compare(OLD, NEW, old_meta={"seed": 0}, new_meta={"seed": 0, "order": 1})
    assert c.notes == ["the runs differ in order (2 vs 1): figures may change for that alone"]
    assert compare(OLD, NEW, old_meta={"seed": 0}, new_meta={"seed": 0, "order": 2}).notes == []


def test_diff_of_a_shard_against_a_whole_run_says_so(tmp_path, monkeypatch, capsys):
    """A shard's results stream where the whole run is expected: its missing ops are not
    removed ops, and both stdout (perhaps a PR comment) and stderr say what to do."""
    from opcheck.cli import main
    from opcheck.formats.json_report import render_json
    from opcheck.results_file import ResultsWriter

    monkeypatch.chdir(tmp_path)
    meta = {"tool": "opcheck", "seed": 0, "mode": "auto", "variant": None, "select": []}
    Path("whole.json").write_text(render_json(OLD[:3], **meta, shard=None))
    writer = ResultsWriter("shard.jsonl", {**meta, "shard": "1/2"})
    writer.write(OLD[0])
    writer.close()
    assert main(["diff", "whole.json", "shard.jsonl"]) == 0
    out, err = capsys.readouterr()
    said = ("shard.jsonl holds only shard 1/2 of a run, whole.json a whole run: the other "
            "shards' ops show as removed; merge the shards first (opcheck merge FILE... "
            "--format json -o merged.json) and compare the merged report")
    assert f"note: {said}" in out
    assert f"opcheck diff: warning: {said}" in err
    c = compare(OLD, OLD, old_meta={"shard": "1/2"}, new_meta={"shard": "2/2"},
                old_path="a.json", new_path="b.json")
    assert c.notes == [("a.json is shard 1/2 of its run and b.json shard 2/2: they hold different "
                        "ops, which show as added and removed; compare the same shard of each "
                        "run, or the merged reports (opcheck merge)")]
    assert "the other shards' ops show as added" in compare(
        OLD, OLD, old_meta={"shard": "1/2"}, new_meta={"shard": None}).notes[0]
    assert compare(OLD, OLD, old_meta={"shard": "1/2"}, new_meta={"shard": "1/2"}).notes == []


@pytest.fixture
def runs(tmp_path):
    """Two JSON reports of the expect_ops library: before and after a new bug."""
    shutil.copy(DATA / "expect_ops.py", tmp_path)
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONPATH", None)
    for name, extra in (("old.json", {}), ("new.json", {"EXPECT_BUG": "expect.good"})):
        subprocess.run([*OPCHECK, "audit", "expect.*", "-p", "expect_ops", "--jobs", "1",
                        "--format", "json", "-o", name], check=False, cwd=tmp_path,
                       env={**env, **extra}, capture_output=True, timeout=120)

    def diff(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*OPCHECK, "diff", *args], check=False, cwd=tmp_path, env=env,
                              text=True, capture_output=True, timeout=60)

    return diff


@pytest.mark.slow  # starts processes
def test_opcheck_diff_lists_the_regression_and_exits_1(runs):
    result = runs("old.json", "new.json", "--format", "json")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert [(c["name"], c["old"], c["new"]) for c in doc["regressions"]] == [
        ("expect.good", "pass", "fail")]
    assert doc["summary"]["unchanged"] == 7
    assert result.stderr.strip() == "opcheck diff: 1 regression, 1 error growth"
    back = runs("new.json", "old.json")
    assert back.returncode == 0 and "Fixed (1):" in back.stdout
    same = runs("old.json", "old.json", "--format", "markdown")
    assert same.returncode == 0 and same.stdout.startswith("### ✅ opcheck diff: no change")


@pytest.mark.slow  # starts processes
def test_diff_reads_results_streams_and_refuses_other_files(runs, tmp_path):
    (tmp_path / "junk.txt").write_text("hello\nworld\n")
    result = runs("old.json", "junk.txt")
    assert result.returncode == 2 and "junk.txt" in result.stderr
    assert runs("old.json", "new.json", "--growth", "0.5").returncode == 2


@pytest.mark.parametrize("kept, words", [(1, "1 op unchanged"), (2, "2 ops unchanged"),
                                         (0, "0 ops unchanged")])
def test_the_count_of_unchanged_ops_is_in_good_english(kept, words):
    old = [_op("a", "pass", 1e-9), *(_op(f"k{i}", "pass", 1e-9) for i in range(kept))]
    new = [_op("a", "fail", 0.3, "wrong"), *(_op(f"k{i}", "pass", 1e-9) for i in range(kept))]
    c = compare(old, new, old_path="main.json", new_path="pr.json")
    assert render_text(c).splitlines()[0].endswith(f" ({words})")
    assert f"main.json → pr.json · {words}" in render_markdown(c)


def _failing_at(status: str, *labels: str) -> OpReport:
    return OpReport(name="op", status=status, variants=[
        VariantResult(label, {"N": 3}, 0, status="fail" if label in labels else "pass")
        for label in ("default", "N=1", "N=4")])


def test_an_op_failing_at_more_variants_is_not_unchanged():
    """A whole-op xfail (or baseline entry) keeps the status; the new failing variant is
    what a reviewer must see."""
    c = compare([_failing_at("xfail", "N=1")], [_failing_at("xfail", "N=1", "N=4")])
    assert c.unchanged == 0 and not (c.regressions or c.changed)
    assert [(ch.name, ch.detail) for ch in c.variants] == [("op", "now also fails at N=4")]
    assert compare([_failing_at("fail", "N=1")], [_failing_at("fail", "N=1")]).unchanged == 1
    crashed = OpReport(name="op", status="error", message="timed out")  # no variant at all
    assert compare([crashed], [_failing_at("error", "N=1")]).unchanged == 1
