"""How the tests run the ``opcheck`` command: the console script installed next to this
interpreter (the wheel under test), else ``python -m opcheck``."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def opcheck_command() -> list[str]:
    beside = Path(sys.executable).with_name("opcheck")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("opcheck")
    return [found] if found else [sys.executable, "-m", "opcheck"]


OPCHECK = opcheck_command()
