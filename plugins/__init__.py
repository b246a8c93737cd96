"""opcheck's built-in op plugins (installed as ``opcheck_plugins``).

Each module is an ordinary opcheck plugin: it defines ``opcheck_ops`` with
``@opcheck.hookimpl``. The core registers the modules in ``MODULES``, in this order, so
they load even when entry-point autoload is off.
"""

MODULES: tuple[str, ...] = (
    "matmul",
    "sigmoid_affine",
    "elementwise",
    "broadcasting",
    "reductions",
    "linear",
    "normalization",
    "softmax",
    "losses",
    "conv",
    "pooling",
    "indexing",
    "dropout",
    "complex_ops",
    "linalg",
)
