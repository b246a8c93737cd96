"""The JSON report (``opcheck.formats.json_report``): the interface other tools read
(CONTRACT.md §3, docs/batch.md), from a real ``opcheck audit --format json`` of a library
with every status."""

from __future__ import annotations

import json

import pytest
from status_library import audit_library

from opcheck import __version__
from opcheck.formats.json_report import JSON_SCHEMA_VERSION, render_json


@pytest.fixture(scope="module")
def doc(tmp_path_factory) -> dict:
    return json.loads(audit_library(tmp_path_factory.mktemp("json"), "json"))


def test_the_header_describes_the_run(doc):
    assert doc["schema_version"] == JSON_SCHEMA_VERSION == 1
    assert (doc["tool"], doc["opcheck_version"]) == ("opcheck", __version__)
    assert (doc["seed"], doc["mode"], doc["variant"], doc["order"]) == (0, "auto", None, 2)
    assert (doc["select"], doc["shard"], doc["complete"], doc["not_run"]) == (["md.*"], None, True, [])
    assert doc["selection"]["count"] == 5 and doc["duration"] > 0


def test_the_summary_counts_every_status(doc):
    assert doc["summary"] == {"pass": 1, "fail": 1, "error": 0, "xfail": 1, "xpass": 1, "skip": 1}
    assert sum(doc["summary"].values()) == len(doc["ops"])


def test_each_op_has_the_contracts_keys_in_report_order(doc):
    assert [op["name"] for op in doc["ops"]] == sorted(op["name"] for op in doc["ops"])
    statuses = {op["name"]: op["status"] for op in doc["ops"]}
    assert statuses == {"md.fixed": "xpass", "md.good": "pass", "md.known": "xfail",
                        "md.skipped": "skip", "md.wrong": "fail"}


def test_max_rel_error_is_the_contracts_figure(doc):
    """max |a-n| / max(1e-8, |a|+|n|) over the elements compared: a backward giving half
    the gradient is off by exactly 1/3; a skipped op compared nothing (null)."""
    ops = {op["name"]: op for op in doc["ops"]}
    assert ops["md.wrong"]["max_rel_error"] == pytest.approx(1 / 3, rel=1e-8)
    assert ops["md.known"]["max_rel_error"] == pytest.approx(1 / 3, rel=1e-8)
    assert ops["md.good"]["max_rel_error"] < 1e-8
    assert ops["md.skipped"]["max_rel_error"] is None
    worst = max(element["abs_error"] / max(1e-8, abs(element["analytic"]) + abs(element["numeric"]))
                for variant in ops["md.wrong"]["variants"] for item in variant["inputs"]
                for element in item["mismatches"])
    assert worst == pytest.approx(ops["md.wrong"]["max_rel_error"], rel=1e-6)


def test_a_failure_carries_its_message_and_reproduce_line(doc):
    ops = {op["name"]: op for op in doc["ops"]}
    assert ops["md.wrong"]["message"].startswith("variant default: gradient mismatch in input 'x'")
    assert ops["md.wrong"]["reproduce"] == "opcheck audit md.wrong -p md_ops --seed 0 --variant default"
    assert ops["md.good"]["reproduce"] == "" and ops["md.skipped"]["message"] == "needs a GPU"


def test_the_ops_are_one_line_each():
    from opcheck.result import OpReport

    text = render_json([OpReport(name="a", status="pass"), OpReport(name="b", status="pass")],
                       seed=0)
    lines = text.splitlines()
    ops = lines[lines.index('  "ops": [') + 1:-2]
    assert [json.loads(line.strip().rstrip(","))["name"] for line in ops] == ["a", "b"]
    assert json.loads(render_json([], seed=0))["ops"] == []
