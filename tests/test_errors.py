"""opcheck.errors: one hierarchy, every exception under OpcheckError but AuditTimeout."""

from __future__ import annotations

import inspect

import opcheck
from opcheck import errors


def test_every_error_is_an_opcheck_error_but_the_timeout():
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, BaseException) and c.__module__ == errors.__name__]
    assert len(classes) >= 10
    outside = {c.__name__ for c in classes if not issubclass(c, errors.OpcheckError)}
    assert outside == {"AuditTimeout"}
    assert not issubclass(errors.AuditTimeout, Exception)  # op code's `except Exception` lets it by
    assert issubclass(errors.SamplerError, ValueError)


def test_the_modules_that_raise_them_still_name_them():
    from opcheck.contract import ContractError
    from opcheck.loading import PluginTimeout
    from opcheck.runner import WorkerError
    from opcheck.samplers import SamplerError
    from opcheck.worker import AuditTimeout

    assert (ContractError, PluginTimeout, WorkerError, SamplerError, AuditTimeout) == (
        errors.ContractError, errors.PluginTimeout, errors.WorkerError, errors.SamplerError,
        errors.AuditTimeout)
    assert opcheck.OpcheckError is errors.OpcheckError
