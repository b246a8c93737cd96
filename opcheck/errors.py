"""Exceptions opcheck raises at its users, each with a message that says what and how to fix."""

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
