"""Test plugin: calls os._exit(0) from its opcheck_ops hook."""
import os

import opcheck


@opcheck.hookimpl
def opcheck_ops():
    os._exit(0)
