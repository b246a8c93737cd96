"""opcheck.serialize and opcheck.plain_data: one walk behind OpReport.to_dict and the JSON
report's op entries; reading an entry back gives the same report."""

from __future__ import annotations

import json
import math

import numpy as np

from opcheck.result import Element, InputResult, OpReport, VariantResult
from opcheck.serialize import jsonable, report_from_dict, report_to_dict


def _report() -> OpReport:
    worst = Element(index=(1, 2), analytic=np.float64(1.5), numeric=0.5, abs_error=1.0,
                    rel_error=0.5, error_estimate=math.inf, outcome="fail")
    item = InputResult(name="x", shape=(2, 3), dtype="float64", status="fail",
                       counts={"fail": 1, "pass": 5}, max_rel_error=0.5, max_abs_error=1.0,
                       worst=worst, mismatches=[worst])
    variant = VariantResult(label="N=2", dims={"N": 2}, seed=3, status="fail", inputs=[item])
    return OpReport(name="t.op", status="fail", seed=3, variants=[variant], message="bad")


def test_to_dict_and_report_to_dict_are_one_walk():
    report = _report()
    plain, safe = report.to_dict(), report_to_dict(report)
    assert list(plain) == list(safe)
    assert plain["max_rel_error"] == safe["max_rel_error"] == 0.5
    worst = plain["variants"][0]["inputs"][0]["worst"]
    assert worst["error_estimate"] == math.inf and type(worst["analytic"]) is float
    assert safe["variants"][0]["inputs"][0]["worst"]["error_estimate"] == "inf"
    assert safe == jsonable(plain)
    json.dumps(safe, allow_nan=False)  # strict JSON


def test_an_entry_reads_back_to_the_same_report():
    report = _report()
    again = report_from_dict(json.loads(json.dumps(report_to_dict(report))))
    assert again == report
    assert again.variants[0].inputs[0].worst.index == (1, 2)


def test_unknown_keys_from_a_newer_opcheck_are_ignored():
    entry = {**report_to_dict(_report()), "coverage": {"new": True}}
    assert report_from_dict(entry).name == "t.op"
