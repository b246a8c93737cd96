"""Every exception opcheck defines, in one hierarchy: all are ``OpcheckError``s but
``AuditTimeout`` (a ``BaseException`` on purpose). Each message says what and how to fix.

Raised at the user: ``UsageError``, ``PluginError``, ``InputError``, ``WorkerError``.
Caught inside opcheck and turned into an ``error`` report or entry: ``ContractError``,
``SamplerError``, ``PluginTimeout``, ``WrapperError``, ``AuditTimeout``."""

from __future__ import annotations


class OpcheckError(Exception):
    """Base class of every error opcheck raises on purpose."""


class UsageError(OpcheckError):
    """The caller asked for something that cannot be done (unknown op, bad option)."""


class PluginError(OpcheckError):
    """A plugin could not be loaded or declared an invalid op."""

    def __init__(self, plugin: str, message: str, op: str | None = None, *,
                 location: str | None = None, fields: tuple[str, ...] = ()) -> None:
        self.plugin = plugin
        self.op = op
        #: 'FILE:LINE' of the invalid declaration and the fields at fault, where known.
        self.location = location
        self.fields = fields
        self.message = message
        super().__init__(f"plugin {plugin!r}: {message}")


class InputError(OpcheckError):
    """Concrete inputs given to ``opcheck.audit`` do not match the op's schema."""


class WorkerError(OpcheckError):
    """An audit worker could not be started at all (not the fault of any one op)."""


class ContractError(OpcheckError):
    """The op broke its contract: the audit reports status ``error`` with this message."""

    def __init__(self, message: str, traceback: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.traceback = traceback


class SamplerError(OpcheckError, ValueError):
    """A sampler is unknown, or returned something other than what it was asked for."""


class PluginTimeout(OpcheckError):
    """A plugin's import or hook ran past the time limit. An ``Exception``: the plugin
    manager records it as that plugin's error and goes on with the others."""


class WrapperError(OpcheckError):
    """A hook wrapper raised while wrapping another plugin's implementation."""

    def __init__(self, plugin: str, error: Exception) -> None:
        super().__init__(plugin, error)
        self.plugin, self.error = plugin, error


class AuditTimeout(BaseException):
    """Raised in the auditing thread by the in-process timer (``--jobs 1``). A
    BaseException, not an ``OpcheckError``, so that the contract's ``except Exception``
    around op code lets it by."""
