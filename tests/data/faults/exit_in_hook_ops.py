"""Test plugin: calls sys.exit(0) from its opcheck_ops hook."""
import sys

import opcheck


@opcheck.hookimpl
def opcheck_ops():
    sys.exit(0)
