"""Which kind of opcheck file a text is, and the message for the wrong kind."""

from __future__ import annotations

import pytest

from opcheck.baseline import KEY, dumps
from opcheck.comparison import compare
from opcheck.file_kinds import BASELINE_KEY, kind, wrong_kind
from opcheck.formats.diff import render as render_diff
from opcheck.formats.json_report import render_json
from opcheck.result import OpReport
from opcheck.results_file import HEADER_KEY

REPORT = render_json([OpReport(name="a", status="pass")], seed=0)
STREAM = f'{{"{HEADER_KEY}": 1, "seed": 0}}\n{{"name": "a", "status": "pass"}}\n'


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(REPORT, "report", id="report"),
    pytest.param(STREAM, "stream", id="stream"),
    pytest.param(STREAM.splitlines()[0] + "\n", "stream", id="stream-header-only"),
    pytest.param(dumps({"a": "why"}), "baseline", id="baseline"),
    pytest.param(render_diff("json", compare([], [])), "diff", id="diff"),
    pytest.param('{"a": "why"}', None, id="bare-mapping"),  # a baseline, but nothing says so
    pytest.param("", None, id="empty"),
    pytest.param("hello\nworld\n", None, id="text"),
    pytest.param("[1, 2]", None, id="json-list"),
])
def test_kind(text, expected):
    assert kind(text) == expected


def test_the_baseline_key_is_the_baseline_modules():
    assert BASELINE_KEY == KEY


def test_wrong_kind_names_what_was_given_and_what_was_expected():
    assert wrong_kind(REPORT, "stream") == ("is a JSON report (opcheck audit --format json), "
                                            "not a results stream (opcheck audit --results)")
    assert wrong_kind(STREAM, "stream") is None
    assert wrong_kind("hello", "stream") is None  # unknown: the reader's own message says why
