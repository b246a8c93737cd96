"""The report formats (JSON, JUnit, Markdown, HTML with its heat maps, the terminal's
summary and progress bar), and the files behind batch runs: the results stream, the
dict form of a report, and merging.

Reports come from real audits of the test plugins in tests/data/batch/.
"""

from __future__ import annotations

import builtins
import importlib.util
import io
import json
import re
import types
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

import opcheck
from opcheck.errors import UsageError
from opcheck.formats import FORMATS, parse_formats, render
from opcheck.formats.heatmap import error_grid, heatmap_html
from opcheck.formats.json_report import JSON_SCHEMA_VERSION
from opcheck.formats.markdown import md
from opcheck.frontend import audit
from opcheck.merge import Loaded, load, merge
from opcheck.plugin_manager import discover
from opcheck.progress import Progress
from opcheck.report import render_summary_table, render_text
from opcheck.result import OpReport
from opcheck.results_file import ResultsWriter, check_compatible, read_results
from opcheck.serialize import jsonable, report_from_dict, report_to_dict

DATA = Path(__file__).parent / "data" / "batch"
DOCS = Path(__file__).parent.parent / "docs"


def _load_plugin(name: str) -> types.ModuleType:
    """A test plugin of tests/data/batch, loaded without touching sys.path or sys.modules:
    other tests (pytester's) create modules of the same names."""
    spec = importlib.util.spec_from_file_location(name, DATA / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hostile_ops = _load_plugin("hostile_ops")

META = {"tool": "opcheck", "seed": 0, "mode": "auto", "variant": None, "order": 2, "select": [],
        "shard": None, "duration": 1.25}


@pytest.fixture(scope="module")
def reports() -> list[OpReport]:
    """A failing op with a hostile name, a raising one, a passing one, a timed-out one."""
    registry = discover([hostile_ops], autoload=False)
    found = [audit(registry[name], plugin=registry.plugin_of[name])
             for name in (hostile_ops.HOSTILE_NAME, hostile_ops.PIPE_NAME, "mylib.tanh")]
    found.append(OpReport(name="mylib.hang", status="error", plugin="hostile_ops",
                          message="timed out after 2 s (stuck in _hang at ops.py:9)"))
    return found


def test_the_test_reports_cover_every_status(reports):
    assert [r.status for r in reports] == ["fail", "error", "pass", "error"]


# --- the dict form and the results stream -----------------------------------------------


def test_a_report_survives_json_and_back(reports):
    for report in reports:
        again = report_from_dict(json.loads(json.dumps(report_to_dict(report))))
        assert again == report
        assert again.max_rel_error == report.max_rel_error


def test_the_fast_dict_form_is_to_dict_made_json_safe(reports):
    for report in reports:
        assert report_to_dict(report) == jsonable(report.to_dict())
        assert list(report_to_dict(report)) == list(report.to_dict())


def test_from_dict_ignores_keys_it_does_not_know(reports):
    data = report_to_dict(reports[0])
    data["added_by_a_newer_opcheck"] = 1
    data["variants"][0]["inputs"][0]["another"] = [1, 2]
    assert report_from_dict(data) == reports[0]


def test_non_finite_figures_round_trip():
    data = {"name": "x", "status": "fail", "variants": [{"label": "default", "dims": {}, "seed": 0,
            "inputs": [{"name": "x", "shape": [2], "dtype": "float64", "status": "fail",
                        "counts": {"fail": 1}, "max_abs_error": "inf", "max_rel_error": None}]}]}
    report = report_from_dict(data)
    assert report.variants[0].inputs[0].max_abs_error == float("inf")
    assert report_to_dict(report)["variants"][0]["inputs"][0]["max_abs_error"] == "inf"


def test_results_stream_appends_a_line_per_op(tmp_path, reports):
    path = tmp_path / "results.jsonl"
    with ResultsWriter(str(path), META) as writer:
        writer.write(reports[0])
        assert len(path.read_text().splitlines()) == 2  # on disk already, before close
        writer.write(reports[2])
    results = read_results(str(path))
    assert results.header["seed"] == 0 and results.header["opcheck_results"] == 1
    assert list(results.reports) == [reports[0].name, "mylib.tanh"]


def test_a_cut_short_last_line_is_dropped_and_overwritten_on_resume(tmp_path, reports):
    path = tmp_path / "results.jsonl"
    with ResultsWriter(str(path), META) as writer:
        writer.write(reports[2])
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"name": "half", "sta')  # killed mid-write
    results = read_results(str(path))
    assert list(results.reports) == ["mylib.tanh"] and results.good_size == len(whole)
    with ResultsWriter(str(path), META, resume=results) as writer:
        writer.write(reports[3])
    assert list(read_results(str(path)).reports) == ["mylib.tanh", "mylib.hang"]


@pytest.mark.parametrize(
    "content, words",
    [
        pytest.param(b'{"name": "x", "status": "pass"}\n', "results header", id="no-header"),
        pytest.param(b'{"opcheck_results": 1}\nnot json\n{"name": "x"}\n', ":2 is not a JSON line",
                     id="garbage-line"),
        pytest.param(b'{"opcheck_results": 1}\n[1, 2]\n', "not an op entry", id="not-an-op"),
    ],
)
def test_a_file_that_is_not_a_results_stream_is_refused(tmp_path, content, words):
    path = tmp_path / "r.jsonl"
    path.write_bytes(content)
    with pytest.raises(UsageError, match=re.escape(words)):
        read_results(str(path))


def test_results_of_another_seed_are_not_reused():
    with pytest.raises(UsageError, match="seed=1.*seed=0"):
        check_compatible({"seed": 1, "mode": "full", "variant": None}, META, "r.jsonl")


# --- JSON ----------------------------------------------------------------------------------


def test_json_report_is_versioned_and_nests_variants_and_inputs(reports):
    doc = json.loads(render("json", reports, {**META, "not_run": []}))
    assert doc["schema_version"] == JSON_SCHEMA_VERSION
    assert doc["complete"] is True and doc["not_run"] == []
    assert doc["summary"] == {"pass": 1, "fail": 1, "error": 2}
    failing = doc["ops"][0]
    assert failing["name"] == hostile_ops.HOSTILE_NAME and failing["status"] == "fail"
    assert failing["max_rel_error"] > 0.1
    variant = failing["variants"][0]
    assert {"label", "dims", "status", "max_rel_error", "inputs"} <= set(variant)
    assert {"name", "shape", "counts", "max_rel_error", "mismatches"} <= set(variant["inputs"][0])


def test_json_report_of_an_interrupted_run_says_so(reports):
    doc = json.loads(render("json", reports[:1], {**META, "not_run": ["b", "c"]}))
    assert doc["complete"] is False and doc["not_run"] == ["b", "c"]


def _documented_keys(section: str) -> set[str]:
    text = (DOCS / "batch.md").read_text()
    part = text.split(f"<!-- json-keys: {section} -->", 1)[1].split("<!-- /json-keys -->", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", part, re.MULTILINE))


def test_docs_describe_every_key_of_the_json_report(reports):
    doc = json.loads(render("json", reports, {**META, "opcheck_version": "0", "not_run": []}))
    op = doc["ops"][0]
    assert set(doc) == _documented_keys("report")
    assert set(op) == _documented_keys("op")
    assert set(op["variants"][0]) == _documented_keys("variant")
    assert set(op["variants"][0]["inputs"][0]) == _documented_keys("input")
    assert set(op["variants"][0]["inputs"][0]["worst"]) == _documented_keys("element")


# --- JUnit ---------------------------------------------------------------------------------


def test_junit_has_a_testcase_per_op_and_variant(reports):
    root = ET.fromstring(render("junit", reports, META).encode())  # a real XML parser
    assert root.tag == "testsuites"
    cases = root.findall("testsuite/testcase")
    per_op = {r.name: max(1, len(r.variants)) for r in reports}
    assert len(cases) == sum(per_op.values()) == int(root.get("tests"))
    failing = [c for c in cases if c.find("failure") is not None]
    assert failing and all(c.get("classname") == hostile_ops.HOSTILE_NAME for c in failing)
    assert int(root.get("failures")) == len(failing)
    text = failing[0].find("failure").text
    assert "Mismatched elements:" in text and "Reproduce: opcheck audit" in text
    errors = [c for c in cases if c.find("error") is not None]
    assert {c.get("classname") for c in errors} == {hostile_ops.PIPE_NAME, "mylib.hang"}
    hang = next(c for c in errors if c.get("classname") == "mylib.hang")
    assert hang.get("name") == "all variants"
    assert hang.find("error").get("message").startswith("timed out after 2 s")
    assert {s.get("name") for s in root.findall("testsuite")} == {"hostile_ops"}
    props = {p.get("name"): p.get("value") for p in root.find("testsuite/properties")}
    assert props == {"seed": "0", "mode": "auto"}


def test_junit_carries_control_characters_and_markup_as_text(reports):
    root = ET.fromstring(render("junit", reports, META).encode())
    raising = next(c for c in root.iter("testcase") if c.get("classname") == hostile_ops.PIPE_NAME)
    message = raising.find("error").get("message")
    assert "<img src=x onerror=alert(1)>" in message  # markup is text, escaped by the writer
    assert "\\x1b[31mred" in message and "]]>" in message


def test_junit_marks_ops_an_interrupted_run_did_not_reach_as_skipped(reports):
    root = ET.fromstring(render("junit", reports[:1], {**META, "not_run": ["z.op"]}).encode())
    [skipped] = [c for c in root.iter("testcase") if c.find("skipped") is not None]
    assert skipped.get("classname") == "z.op" and root.get("skipped") == "1"


# --- Markdown ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("a|b", r"a\|b", id="pipe"),
        pytest.param("<script>", "&lt;script&gt;", id="html"),
        pytest.param("`x` *y* _z_", r"\`x\` \*y\* \_z\_", id="emphasis"),
        pytest.param("two\nlines", "two lines", id="newline"),
        pytest.param("\x1b[31m", r"\\x1b\[31m", id="ansi"),
    ],
)
def test_markdown_escapes_untrusted_text(text, expected):
    assert md(text) == expected


def test_markdown_lists_what_did_not_pass_first(reports):
    text = render("markdown", reports, META)
    assert text.startswith("## opcheck: 1 failed, 2 errors, 1 passed")
    not_passing = text.split("### Not passing", 1)[1].split("<details>", 1)[0]
    rows = [line for line in not_passing.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 3 and all(len(re.split(r"(?<!\\)\|", r)) == 7 for r in rows)
    outside_code = re.sub(r"^(`{3,})text\n.*?^\1$", "", text, flags=re.MULTILINE | re.DOTALL)
    assert "<script>" not in outside_code and "<img" not in outside_code
    assert "timed out after 2 s" in text


# --- HTML ----------------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def test_html_escapes_every_name_and_message(reports):
    page = render("html", reports, META)
    parsed = _parse(page)
    assert "script" not in parsed.tags and page.count("<img") == page.count('<img alt="')
    assert "onerror" not in "".join(t for t in parsed.tags)
    text = "".join(parsed.text)
    assert hostile_ops.HOSTILE_NAME in text  # shown, as text
    assert "<img src=x onerror=alert(1)>" in text
    assert "\x1b" not in page


def test_html_is_self_contained_and_runs_no_script(reports):
    page = render("html", reports, META)
    assert "<script" not in page.lower()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_html_filters_by_status(reports):
    page = render("html", reports, META)
    for key in ("all", "bad", "fail", "error", "pass"):
        assert f'id="show-{key}"' in page
    assert 'id="show-bad" checked' in page  # opens on what needs attention
    rows = re.findall(r'<tr data-status="(\w+)">', page)
    assert rows == [r.status for r in reports]


def test_html_draws_a_heat_map_for_each_failing_input(reports):
    page = render("html", reports, META)
    failing = [i for v in reports[0].variants for i in v.inputs if i.status == "fail"]
    assert page.count('<figure class="heatmap">') == min(4, len(failing))


def _hide_matplotlib(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_heat_map_without_matplotlib_is_a_table_of_cells(reports, monkeypatch):
    _hide_matplotlib(monkeypatch)
    variant = next(v for v in reports[0].variants if v.status == "fail")
    item = next(i for i in variant.inputs if i.status == "fail")
    fragment = heatmap_html(item, "caption <b>")
    rows, cols = item.shape
    assert fragment.count("<td ") == rows * cols
    assert "not recorded" not in fragment  # the audit kept every element's |a - n|
    assert "caption &lt;b&gt;" in fragment and "data:image/png" not in fragment


def test_heat_map_with_matplotlib_is_an_embedded_png(reports):
    pytest.importorskip("matplotlib")
    item = next(i for v in reports[0].variants for i in v.inputs if i.status == "fail")
    fragment = heatmap_html(item, "x")
    assert 'src="data:image/png;base64,' in fragment


def test_heat_map_grid_is_every_elements_error_in_c_order(reports):
    item = next(i for v in reports[0].variants for i in v.inputs if i.status == "fail")
    rows, cols = item.shape
    grid = error_grid(item)
    assert grid.complete and len(grid.rows) == rows and all(len(row) == cols for row in grid.rows)
    for bad in item.mismatches:
        assert grid.rows[bad.index[0]][bad.index[1]] == pytest.approx(bad.abs_error)
    assert max(v for row in grid.rows for v in row if v is not None) == pytest.approx(
        item.max_abs_error)


def test_heat_map_of_an_input_too_large_to_record_shows_its_worst_elements(reports, monkeypatch):
    _hide_matplotlib(monkeypatch)
    item = next(i for v in reports[0].variants for i in v.inputs if i.status == "fail")
    rows, cols = item.shape
    monkeypatch.setattr(item, "abs_errors", None)
    assert not error_grid(item).complete
    fragment = heatmap_html(item, "x")
    assert fragment.count("not recorded") == rows * cols - len(item.mismatches)


# --- text, the terminal --------------------------------------------------------------------


def test_text_names_the_ops_an_interrupted_run_did_not_reach(reports):
    assert "Interrupted: 2 ops not run: b, c" in render_text(reports[:1], not_run=["b", "c"])


def test_summary_table_lists_what_did_not_pass_with_reasons(reports):
    table = render_summary_table(reports, width=80)
    lines = table.splitlines()
    assert lines[0].split() == ["status", "op", "reason"]
    assert any(line.startswith("ERROR") and "mylib.hang" in line and "timed out" in line
               for line in lines)
    assert all(len(line) <= 80 for line in lines)
    assert lines[-1] == "pass: 1  fail: 1  error: 2"


def test_progress_bar_counts_ops_and_failures(reports):
    pytest.importorskip("tqdm")
    stream = io.StringIO()
    with Progress(4, stream=stream, enabled=True, min_interval=0) as progress:
        for report in reports:
            progress.update(report)
    out = stream.getvalue()
    assert "4/4 ops" in out and "1 failed, 2 errors" in out


def test_progress_is_silent_off_a_terminal(reports):
    stream = io.StringIO()  # not a terminal
    with Progress(4, stream=stream) as progress:
        progress.update(reports[0])
    assert stream.getvalue() == ""


# --- formats by name, merging --------------------------------------------------------------


def test_format_names():
    assert parse_formats("json,junit,json") == ["json", "junit"]
    assert set(FORMATS) == {"text", "json", "junit", "markdown", "html"}
    with pytest.raises(UsageError, match="unknown format 'yaml'"):
        parse_formats("json,yaml")


def _json_file(tmp_path, name, reports, **meta):
    path = tmp_path / name
    path.write_text(render("json", reports, {**META, **meta}))
    return str(path)


def test_merge_orders_ops_as_one_run_would(tmp_path, reports):
    a = _json_file(tmp_path, "a.json", [reports[2], reports[0]], shard="1/2")
    b = _json_file(tmp_path, "b.json", [reports[3], reports[1]], shard="2/2")
    meta, merged, warnings = merge([load(a), load(b)])
    assert warnings == []
    assert [r.name for r in merged] == sorted(r.name for r in reports)
    assert meta["seed"] == 0 and [m["shard"] for m in meta["merged_from"]] == ["1/2", "2/2"]
    assert meta["opcheck_version"] == opcheck.__version__  # every report key, as a run's


def test_merge_reads_results_streams_too(tmp_path, reports):
    path = tmp_path / "r.jsonl"
    with ResultsWriter(str(path), META) as writer:
        writer.write(reports[0])
    assert [r.name for r in load(str(path)).reports] == [reports[0].name]


def test_merge_warns_about_a_missing_shard(tmp_path, reports):
    a = _json_file(tmp_path, "a.json", reports[:1], shard="1/3")
    c = _json_file(tmp_path, "c.json", reports[1:2], shard="3/3")
    _, _, warnings = merge([load(a), load(c)])
    assert warnings == ["shard 2/3 is missing: its ops are not in the merged report"]


def test_merge_refuses_reports_of_different_seeds(tmp_path, reports):
    a = _json_file(tmp_path, "a.json", reports[:1])
    b = _json_file(tmp_path, "b.json", reports[1:2], seed=7)
    with pytest.raises(UsageError, match="same --seed"):
        merge([load(a), load(b)])


def test_merge_warns_when_an_op_differs_between_inputs(reports):
    changed = report_from_dict({**report_to_dict(reports[2]), "status": "fail"})
    _, merged, warnings = merge([Loaded("a", dict(META), [reports[2]]),
                                 Loaded("b", dict(META), [changed])])
    assert len(warnings) == 1 and "different results" in warnings[0]
    assert merged[0].status == "fail"


@pytest.mark.parametrize("message, kind", [
    ("timed out after 2 s (stuck at ops.py:3)", "Timeout"),
    ("worker process died with signal SIGSEGV (Segmentation fault)", "Crash"),
    ("the audit stopped: SystemExit: 3 (at ops.py:9 in forward)", "Crash"),
    ("plugin 'mylib': opcheck_ops() raised RuntimeError: no", "PluginError"),
    ("backward returned a gradient for 'x' of shape (2,), expected (3,)", "ContractError"),
    ("variant N=1: timed out after 2 s", "Timeout"),
])
def test_junit_error_types_say_what_kind_of_error(message, kind):
    from opcheck.result import OpReport

    xml = render("junit", [OpReport(name="t.op", status="error", message=message)], META)
    [error] = ET.fromstring(xml.encode()).iter("error")
    assert error.get("type") == kind


def test_the_text_report_lists_the_warnings_of_passing_ops():
    from opcheck.report import render_text

    quiet = OpReport(name="t.quiet", status="pass")
    noisy = OpReport(name="t.noisy", status="pass",
                     warnings=["default: the op wrote to stdout:\nline one\nline two"])
    text = render_text([quiet, noisy])
    assert "Warnings (in full in --format json):" in text
    assert "t.noisy: default: the op wrote to stdout: (+2 lines)" in text
    assert "t.quiet:" not in text
    assert "Warnings" not in render_text([quiet])


def test_results_of_another_order_are_not_reused():
    with pytest.raises(UsageError, match="holds results for order=2, but this run has order=1"):
        check_compatible({**META, "order": 2}, {**META, "order": 1}, "r.jsonl")
    older = {k: v for k, v in META.items() if k != "order"}  # written before order was recorded
    check_compatible(older, {**META, "order": 2}, "r.jsonl")
    with pytest.raises(UsageError, match="order=2, but this run has order=1"):
        check_compatible(older, {**META, "order": 1}, "r.jsonl")
