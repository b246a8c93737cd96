"""How often does each rule get the gallery's verdicts right, measured in one run?

Runs tests/bug_gallery.py's ops (24 bugs, 14 correct-but-tricky ops) through:
- the seed notebook's rule: h = 1e-5 central differences, rel_error < 1e-7 is "good";
- torch.autograd.gradcheck's default tolerances (rtol=1e-3, atol=1e-5, eps=1e-6), applied
  to the same numpy op (no torch needed);
- opcheck.audit, full and fast mode.
and prints, per rule, bugs caught and false alarms on the correct ops.

    python benchmarks/verdicts.py
"""

from __future__ import annotations

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


def fixed_step_verdict(op: opcheck.Op, h: float, judge) -> str:
    """'flag' if the rule calls any input of any variant wrong (or the op breaks), else 'ok'."""
    for label, dims in variants(op).items():
        rng = rng_for(0, op.name, label)
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


def main() -> None:
    np.seterr(all="ignore")  # the gallery's NaN bug divides by zero on purpose
    rules = {
        "seed rule (h=1e-5, rel_error < 1e-7)": lambda op: fixed_step_verdict(op, 1e-5, seed_rule),
        "gradcheck defaults (eps=1e-6, rtol=1e-3, atol=1e-5)": lambda op: fixed_step_verdict(op, 1e-6, torch_default_rule),
        "opcheck full": lambda op: "ok" if opcheck.audit(op).status == "pass" else "flag",
        "opcheck fast": lambda op: "ok" if opcheck.audit(op, mode="fast").status == "pass" else "flag",
    }
    correct = CORRECT + KINKS
    print(f"{'rule':<55}{'bugs caught':>14}{'false alarms':>15}")
    for label, rule in rules.items():
        caught = [c.op.name for c in BUGS if rule(c.op) == "flag"]
        alarms = [c.op.name for c in correct if rule(c.op) == "flag"]
        print(f"{label:<55}{len(caught):>8} / {len(BUGS):<4}{len(alarms):>8} / {len(correct)}")
        missed = sorted({c.op.name for c in BUGS} - set(caught))
        if missed:
            print(f"    missed: {', '.join(missed)}")
        if alarms:
            print(f"    false alarms: {', '.join(alarms)}")


if __name__ == "__main__":
    main()
