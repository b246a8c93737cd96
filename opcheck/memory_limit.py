"""``--max-memory``: the address-space limit (``RLIMIT_AS``) an audit runs under, set the
same way in-process (``--jobs 1``, restored after each op) and in a worker (for life)."""

from __future__ import annotations


def lower_address_space(limit: int) -> tuple[int, int]:
    """Set the soft ``RLIMIT_AS`` to ``limit`` bytes, capped by the hard limit (which an
    unprivileged process cannot raise); return the previous ``(soft, hard)`` for
    ``restore_address_space``."""
    import resource  # POSIX only: the CLI refuses --max-memory elsewhere

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    lowered = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (lowered, hard))
    return soft, hard


def restore_address_space(previous: tuple[int, int]) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, previous)
