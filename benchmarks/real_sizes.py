"""Time to verdict on layers at the sizes they are used at: opcheck's default (budgeted),
full and fast modes against torch.autograd.gradcheck (fast_mode True and False) and
jax.test_util.check_grads (order=1, modes=("rev",)), all on one thread in float64,
measured in the same run; and each layer with one wrong gradient element, which the
default mode must fail naming that element.

    python benchmarks/real_sizes.py [--repeat 3] [--modes auto,fast] [--torch] [--jax] [--layers conv2d,...]

Needs ``pip install torch==2.13.0`` for the torch columns and ``pip install jax`` for the
JAX column (left out, with a note, when JAX is not installed). Prints ratios to torch's
fast gradcheck (median over repeats, with the min..max spread), or to JAX's check_grads
without torch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import opcheck
from opcheck import Op, Tensor


def conv_fw(x, w):
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = sliding_window_view(xp, (3, 3), axis=(2, 3))  # N C H W 3 3
    return np.einsum("nchwij,fcij->nfhw", win, w, optimize=True)


def conv_bw(dout, x, w):
    dp = np.pad(dout, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = sliding_window_view(dp, (3, 3), axis=(2, 3))  # N F H W 3 3
    dx = np.einsum("nfhwij,fcij->nchw", win, w[:, :, ::-1, ::-1], optimize=True)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    xw = sliding_window_view(xp, (3, 3), axis=(2, 3))
    dw = np.einsum("nchwij,nfhw->fcij", xw, dout, optimize=True)
    return {"x": dx, "w": dw}


def ln_fw(x):
    mu = x.mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-5)


def ln_bw(dout, x):
    mu = x.mean(axis=-1, keepdims=True)
    inv = 1 / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-5)
    xhat = (x - mu) * inv
    d = x.shape[-1]
    g = dout - dout.mean(axis=-1, keepdims=True) - xhat * (dout * xhat).mean(axis=-1, keepdims=True)
    return {"x": g * inv * (d / d)}


LABELS = np.random.default_rng(0).integers(0, 1000, size=128)


def ce_fw(z):
    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    return np.asarray(np.mean(lse - z[np.arange(z.shape[0]), LABELS[: z.shape[0]] % z.shape[1]]))


def ce_bw(dout, z):
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(z.shape[0]), LABELS[: z.shape[0]] % z.shape[1]] -= 1
    return {"z": dout * p / z.shape[0]}


def att_fw(q, k, v):
    s = q @ k.T / np.sqrt(q.shape[1])
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p @ v


def att_bw(dout, q, k, v):
    d = q.shape[1]
    s = q @ k.T / np.sqrt(d)
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dv = p.T @ dout
    dp = dout @ v.T
    ds = p * (dp - (dp * p).sum(axis=1, keepdims=True)) / np.sqrt(d)
    return {"q": ds @ k, "k": ds.T @ q, "v": dv}


def mm_fw(x, w):
    return x @ w


def mm_bw(dout, x, w):
    return {"x": dout @ w.T, "w": x.T @ dout}


def _wrong(backward, name, index):
    def bad(dout, **kw):
        grads = backward(dout, **kw)
        grads[name] = grads[name].copy()
        grads[name][index] *= 1.01
        return grads
    return bad


def layers() -> dict[str, tuple[Op, str, tuple[int, ...]]]:
    """name -> (correct op, input and index that the wrong version gets wrong)."""
    t = Tensor
    out = {
        "conv2d x(4,8,32,32)": (Op(name="conv2d", forward=conv_fw, backward=conv_bw, dims={},
                                   inputs={"x": t(shape=(4, 8, 32, 32)), "w": t(shape=(8, 8, 3, 3))}),
                                "x", (2, 5, 17, 30)),
        "layernorm (64,512)": (Op(name="layernorm", forward=ln_fw, backward=ln_bw,
                                  inputs={"x": t(shape=(64, 512))}), "x", (40, 300)),
        "softmax CE (128,1000)": (Op(name="softmax_ce", forward=ce_fw, backward=ce_bw,
                                     inputs={"z": t(shape=(128, 1000))}), "z", (77, 555)),
        "attention (64,64)": (Op(name="attention", forward=att_fw, backward=att_bw,
                                 inputs={"q": t(shape=(64, 64)), "k": t(shape=(64, 64)),
                                         "v": t(shape=(64, 64))}), "k", (10, 20)),
    }
    for n in (3, 16, 64, 128, 256):
        shape = ("N", "K")
        out[f"matmul {n}x{n}"] = (Op(name=f"matmul{n}", forward=mm_fw, backward=mm_bw,
                                     dims={"N": n, "K": n + 1 if n == 3 else n, "M": n + 2 if n == 3 else n},
                                     inputs={"x": t(shape=shape), "w": t(shape=("K", "M"))}),
                                  "w", (1, 2))
    return out


def torch_seconds(op: Op, fast: bool) -> float:
    import torch

    torch.set_num_threads(1)
    dims = op.default_dims()
    args = [torch.randn(*s.concrete_shape(dims), dtype=torch.float64, requires_grad=True)
            for s in op.inputs.values()]
    names = list(op.inputs)
    if op.name == "conv2d":
        fn = lambda x, w: torch.nn.functional.conv2d(x, w, padding=1)
    elif op.name == "layernorm":
        fn = lambda x: torch.nn.functional.layer_norm(x, x.shape[-1:])
    elif op.name == "softmax_ce":
        labels = torch.as_tensor(LABELS % 1000)
        fn = lambda z: torch.nn.functional.cross_entropy(z, labels)
    elif op.name == "attention":
        fn = lambda q, k, v: torch.softmax(q @ k.T / 8.0, dim=1) @ v
    else:
        fn = lambda x, w: x @ w
    del names
    started = time.perf_counter()
    assert torch.autograd.gradcheck(fn, tuple(args), fast_mode=fast)
    return time.perf_counter() - started


def jax_function(name: str):  # noqa: ANN201 (a jax function)
    """The layer ``name`` in jax.numpy, as the torch column uses torch's."""
    import jax
    import jax.numpy as jnp

    if name == "conv2d":  # NCHW input, OIHW kernel: jax's default dimension numbers
        return lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)))
    if name == "layernorm":
        return lambda x: ((x - x.mean(axis=-1, keepdims=True))
                          / jnp.sqrt(x.var(axis=-1, keepdims=True) + 1e-5))
    if name == "softmax_ce":
        labels = jnp.asarray(LABELS % 1000)
        return lambda z: jnp.mean(jax.nn.logsumexp(z, axis=1) - z[jnp.arange(z.shape[0]), labels])
    if name == "attention":
        return lambda q, k, v: jax.nn.softmax(q @ k.T / 8.0, axis=1) @ v
    return lambda x, w: x @ w


def jax_seconds(op: Op) -> float | None:
    """Seconds of ``check_grads(f, args, order=1, modes=("rev",))`` in float64 (None
    without JAX)."""
    try:
        import jax
        from jax.test_util import check_grads
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    dims = op.default_dims()
    rng = np.random.default_rng(0)
    args = tuple(jax.numpy.asarray(rng.standard_normal(s.concrete_shape(dims)))
                 for s in op.inputs.values())
    fn = jax_function(op.name)
    started = time.perf_counter()
    check_grads(fn, args, order=1, modes=("rev",))
    return time.perf_counter() - started


#: torch's slow gradcheck builds the dense Jacobian: skip it past this many entries (8 GiB
#: for conv2d x (4,8,32,32)).
SLOW_JACOBIAN_LIMIT = 2 * 10**7


def _jacobian_entries(op: Op) -> int:
    dims = op.default_dims()
    n_in = sum(int(np.prod(t.concrete_shape(dims))) for t in op.inputs.values())
    values = {k: np.zeros(t.concrete_shape(dims)) for k, t in op.inputs.items()}
    return n_in * int(np.asarray(op.forward(**values)).size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", default="auto,fast")
    parser.add_argument("--torch", action="store_true", help="also torch gradcheck fast and slow")
    parser.add_argument("--jax", action="store_true", help="also jax.test_util.check_grads")
    parser.add_argument("--layers", default="", help="comma-separated name prefixes")
    parser.add_argument("--variant", default="all", help="'default' for the declared shape only")
    args = parser.parse_args()
    modes = args.modes.split(",")
    variant = None if args.variant == "all" else args.variant
    for label, (op, name, index) in layers().items():
        if args.layers and not any(label.startswith(p) for p in args.layers.split(",")):
            continue
        times: dict[str, list[float]] = {}
        verdicts: dict[str, str] = {}
        for _ in range(args.repeat):
            for mode in modes:
                started = time.perf_counter()
                report = opcheck.audit(op, mode=mode, variant=variant)
                times.setdefault(mode, []).append(time.perf_counter() - started)
                verdicts[mode] = f"{report.status} ({report.coverage})"
            if args.torch:
                times.setdefault("torch fast", []).append(torch_seconds(op, True))
                if _jacobian_entries(op) <= SLOW_JACOBIAN_LIMIT:  # slow mode holds it dense
                    times.setdefault("torch slow", []).append(torch_seconds(op, False))
            if args.jax:
                seconds = jax_seconds(op)
                if seconds is None:
                    print("   (JAX is not installed: pip install jax; its column is left out)")
                    args.jax = False
                else:
                    times.setdefault("jax", []).append(seconds)
        bad = Op(name=op.name + ".wrong", forward=op.forward, backward=_wrong(op.backward, name, index),
                 inputs=op.inputs, dims=op.dims)
        report = opcheck.audit(bad, variant="default")
        named = [e.index for i in report.variants[0].inputs for e in i.mismatches if i.name == name]
        base = "torch fast" if "torch fast" in times else "jax" if "jax" in times else None
        ref = statistics.median(times[base]) if base else None
        print(f"== {label}")
        for key, values in times.items():
            med = statistics.median(values)
            ratio = f"  = {med / ref:6.2f}x {base} ({min(values) / ref:.2f}..{max(values) / ref:.2f})" if ref else ""
            print(f"   {key:<11} {med:8.3f} s{ratio}  {verdicts.get(key, '')}", flush=True)
        print(f"   one wrong element {name}{index}: default mode {report.status}, named {named[:3]}"
              f" in {report.duration:.2f} s", flush=True)


if __name__ == "__main__":
    main()
