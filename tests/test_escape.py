"""The one escaping helper: what a terminal or a report file would act on is written as an
escape; everything else, newlines and tabs included, is kept."""

from __future__ import annotations

import pytest

from opcheck.escape import visible


@pytest.mark.parametrize(("text", "shown"), [
    pytest.param("\x1b]0;title\x07", "\\x1b]0;title\\x07", id="set-window-title"),
    pytest.param("\x1b[2J", "\\x1b[2J", id="clear-screen"),
    pytest.param("a\x00b\rc", "a\\x00b\\x0dc", id="nul-cr"),
    pytest.param("\x9b31m", "\\x9b31m", id="c1-csi"),
    pytest.param("gnp.\u202eexe", "gnp.\\u202eexe", id="rtl-override"),
    pytest.param("\u2066x\u2069", "\\u2066x\\u2069", id="isolates"),
    pytest.param("bad \udc80 text", "bad \\udc80 text", id="lone-surrogate"),
    pytest.param("line\n\tindented — ✓ ok", "line\n\tindented — ✓ ok", id="kept"),
])
def test_visible(text, shown):
    assert visible(text) == shown
    visible(text).encode("utf-8")  # always writable
