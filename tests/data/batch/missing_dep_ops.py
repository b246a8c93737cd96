"""Test plugin that imports but cannot declare its ops: a dependency is missing."""

import opcheck


@opcheck.hookimpl
def opcheck_ops():
    import opcheck_test_no_such_dependency  # noqa: F401  (ModuleNotFoundError)

    return []
