"""How often does each rule get the gallery's verdicts right, measured in one run?

Runs tests/bug_gallery.py's ops (25 bugs, 16 correct-but-tricky ops), or with
``--gallery adversarial`` tests/gallery/adversarial.py's (18 bugs, 24 correct ops, each
at seeds 0-4), through:
- the seed notebook's rule: h = 1e-5 central differences, rel_error < 1e-7 is "good";
- torch.autograd.gradcheck's default tolerances (rtol=1e-3, atol=1e-5, eps=1e-6), applied
  to the same numpy op (no torch needed);
- opcheck.audit, default (auto), full and fast mode.
and prints, per rule, bugs caught and false alarms on the correct ops.

``--gallery rules`` runs tests/gallery/rules.py (jvp, adjoint, second-order and complex
bugs, and correct ops of those kinds) through torch.autograd.gradcheck with
``check_forward_ad=True`` plus gradgradcheck where a double_backward is declared (needs
``pip install torch==2.13.0``; see benchmarks/torch_rules.py), and opcheck in its
default, full and fast modes.

    python benchmarks/verdicts.py [--gallery bug|adversarial|rules]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import opcheck
from opcheck import contract
from opcheck.sampling import rng_for, sample_cotangent, sample_inputs, variants

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from bug_gallery import BUGS, CORRECT, KINKS


def numeric_vjp(op: opcheck.Op, values: dict, douts: list, name: str, h: float) -> np.ndarray:
    x = values[name].astype(np.float64)
    grad = np.zeros(x.size)
    for i in range(x.size):
        for sign in (1, -1):
            v = {k: a.copy() for k, a in values.items()}
            flat = v[name].reshape(-1)
            flat[i] = x.reshape(-1)[i] + sign * h
            outs, _ = contract.as_outputs(op.forward(**v))
            grad[i] += sign * sum(float(np.sum(d * o)) for d, o in zip(douts, outs) if d is not None)
    return grad / (2 * h)


def fixed_step_verdict(op: opcheck.Op, h: float, judge, seed: int = 0) -> str:
    """'flag' if the rule calls any input of any variant wrong (or the op breaks), else 'ok'."""
    for label, dims in variants(op).items():
        rng = rng_for(seed, op.name, label)
        values = sample_inputs(op, dims, rng)
        try:
            outs, multi = contract.as_outputs(op.forward(**{k: v.copy() for k, v in values.items()}))
            douts = [sample_cotangent(o, rng) if o.dtype.kind == "f" else None for o in outs]
            kwargs = {"dout": tuple(douts) if multi else douts[0], **{k: v.copy() for k, v in values.items()}}
            if op.backward_takes_out():
                kwargs["out"] = tuple(outs) if multi else outs[0]
            grads, _ = contract.gradients(op, op.backward(**kwargs), values)
            for name, g in grads.items():
                n = numeric_vjp(op, values, douts, name, h)
                if not judge(g.astype(np.float64).ravel(), n):
                    return "flag"
        except Exception:
            return "flag"
    return "ok"


def seed_rule(a: np.ndarray, n: np.ndarray) -> bool:
    return float(np.max(np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n)))) < 1e-7


def torch_default_rule(a: np.ndarray, n: np.ndarray) -> bool:
    return bool(np.allclose(a, n, rtol=1e-3, atol=1e-5))


def _galleries(which: str) -> tuple[list[opcheck.Op], list[opcheck.Op], range]:
    """(bugs, correct ops, seeds)."""
    if which == "adversarial":
        from gallery import adversarial

        return adversarial.BUGS, adversarial.OK, range(5)
    if which == "rules":
        from gallery import rules

        return [c.op for c in rules.BUGS], [c.op for c in rules.CORRECT], range(1)
    return [c.op for c in BUGS], [c.op for c in CORRECT + KINKS], range(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", choices=["bug", "adversarial", "rules"], default="bug")
    parser.add_argument("--opcheck-only", action="store_true",
                        help="only opcheck's modes (skip the fixed-step and torch rules)")
    args = parser.parse_args()
    np.seterr(all="ignore")  # the gallery's NaN bug divides by zero on purpose
    bugs, correct, seeds = _galleries(args.gallery)
    rules = {
        "seed rule (h=1e-5, rel_error < 1e-7)": lambda op, s: fixed_step_verdict(op, 1e-5, seed_rule, s),
        "gradcheck defaults (eps=1e-6, rtol=1e-3, atol=1e-5)":
            lambda op, s: fixed_step_verdict(op, 1e-6, torch_default_rule, s),
        "opcheck default mode": lambda op, s: "ok" if opcheck.audit(op, seed=s).status == "pass" else "flag",
        "opcheck full": lambda op, s: "ok" if opcheck.audit(op, seed=s, mode="full").status == "pass" else "flag",
        "opcheck fast": lambda op, s: "ok" if opcheck.audit(op, seed=s, mode="fast").status == "pass" else "flag",
    }
    if args.gallery == "rules":  # jvp, second order, complex: rules the fixed-step ones lack
        import warnings

        from torch_rules import torch_verdict

        warnings.simplefilter("ignore")  # gradcheck warns about every float32 input
        rules = {
            "torch gradcheck(check_forward_ad=True) + gradgradcheck": torch_verdict,
            "opcheck default mode": rules["opcheck default mode"],
            "opcheck full": rules["opcheck full"],
            "opcheck fast": rules["opcheck fast"],
        }
    if args.opcheck_only:
        rules = {k: v for k, v in rules.items() if k.startswith("opcheck")}
    runs = f" (op x seed runs, seeds {seeds.start}-{seeds.stop - 1})" if len(seeds) > 1 else ""
    print(f"{'rule':<55}{'bugs caught':>14}{'false alarms':>15}{runs}")
    for label, rule in rules.items():
        caught = [(op.name, s) for op in bugs for s in seeds if rule(op, s) == "flag"]
        alarms = [(op.name, s) for op in correct for s in seeds if rule(op, s) == "flag"]
        n_bugs, n_ok = len(bugs) * len(seeds), len(correct) * len(seeds)
        print(f"{label:<55}{len(caught):>8} / {n_bugs:<4}{len(alarms):>8} / {n_ok}")
        missed = sorted({(op.name, s) for op in bugs for s in seeds} - set(caught))
        if missed:
            print(f"    missed: {', '.join(_runs(missed, len(seeds)))}")
        if alarms:
            print(f"    false alarms: {', '.join(_runs(sorted(alarms), len(seeds)))}")


def _runs(items: list[tuple[str, int]], seeds: int) -> list[str]:
    """'name' per op, with the seeds it happened at when there are several."""
    by_op: dict[str, list[int]] = {}
    for name, seed in items:
        by_op.setdefault(name, []).append(seed)
    if seeds == 1:
        return list(by_op)
    return [f"{name} ({'all seeds' if len(s) == seeds else 'seed ' + ','.join(map(str, s))})"
            for name, s in by_op.items()]


if __name__ == "__main__":
    main()
