"""The HTML report (``opcheck.formats.html``): what the page of a real ``opcheck audit
--format html`` of a library with every status shows, read through an HTML parser."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from status_library import audit_library


class _Page(HTMLParser):
    """The filters (radio inputs and their labels), the table's rows and the articles."""

    def __init__(self) -> None:
        super().__init__()
        self.filters: dict[str, bool] = {}
        self.labels: dict[str, str] = {}
        self.rows: list[list[str]] = []
        self.articles: list[str] = []
        self._label: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "radio":
            self.filters[attrs["id"]] = "checked" in attrs
        elif tag == "label":
            self._label = attrs["for"]
            self.labels[self._label] = ""
        elif tag == "tr" and "data-status" in attrs:
            self.rows.append([])
        elif tag == "td" and self.rows:
            self._cell = []
        elif tag == "article":
            self.articles.append(attrs["data-status"])

    def handle_endtag(self, tag):
        if tag == "label":
            self._label = None
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._label:
            self.labels[self._label] += data
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    return audit_library(tmp_path_factory.mktemp("html"), "html")


@pytest.fixture(scope="module")
def parsed(page) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


def test_the_title_and_heading_are_the_verdict(page):
    verdict = re.search(r"<h1>opcheck audit: (.*?)</h1>", page)[1]
    assert re.fullmatch(r"1 failed, 1 passed, 1 skipped, 1 xfailed, 1 xpassed in \d+\.\d\ds", verdict)
    assert f"<title>opcheck: {verdict}</title>" in page


def test_a_filter_per_status_present_opening_on_what_needs_attention(parsed):
    assert parsed.labels == {
        "show-all": "All (5)", "show-bad": "Not passing (2)", "show-fail": "Failed (1)",
        "show-error": "Errors (0)", "show-pass": "Passed (1)", "show-xfail": "Expected failures (1)",
        "show-xpass": "Unexpected passes (1)", "show-skip": "Skipped (1)",
    }  # not passing: the failure and the XPASS; xfail and skip are known
    assert [k for k, checked in parsed.filters.items() if checked] == ["show-bad"]


def test_the_table_has_each_op_its_status_where_and_why(parsed):
    rows = {cells[0]: cells for cells in parsed.rows}
    assert {name: cells[1] for name, cells in rows.items()} == {
        "md.fixed": "XPASS", "md.good": "PASS", "md.known": "XFAIL", "md.skipped": "SKIP",
        "md.wrong": "FAIL"}
    wrong = rows["md.wrong"]
    assert float(wrong[2]) == pytest.approx(1 / 3, rel=1e-3)
    assert wrong[3:6] == ["3", "x [default]", "md_ops"]
    assert wrong[6].startswith("variant default: gradient mismatch in input 'x'")
    assert rows["md.skipped"][6] == "needs a GPU" and rows["md.good"][6] == ""
    assert rows["md.good"][7] == "all elements of every input"  # what each op's audit covered


def test_every_op_that_did_not_pass_has_its_details(parsed, page):
    assert sorted(parsed.articles) == ["fail", "skip", "xfail", "xpass"]
    assert ("<p>Reproduce:</p><pre>opcheck audit md.wrong -p md_ops --seed 0 --variant default"
            "</pre>") in page
