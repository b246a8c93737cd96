"""Adapters that turn an op written in torch or JAX into an ``opcheck.Op``.

Each adapter module imports its framework only when the adapter is called, so that
importing opcheck (and every worker, and the pytest plugin) costs no torch or JAX.
"""
