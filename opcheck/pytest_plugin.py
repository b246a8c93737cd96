"""opcheck's pytest plugin (registered through the ``pytest11`` entry point)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opcheck", "gradient audits of op plugins")
    group.addoption("--opcheck", action="store_true", help="collect every discovered op as a test")
