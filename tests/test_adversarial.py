"""The adversarial gallery (tests/gallery/adversarial.py): every bug is caught and no
correct op is flagged, in full and fast mode; the bugs that once slipped through (a 0.5%
error in a float32 layernorm whose differences drown in rounding, gradients flushed to
zero in float16, a wrong gradient of an input pinned near its bound) are caught at every
seed, and a float64 op that computes in float32 is not a false alarm."""

from __future__ import annotations

import pytest
from gallery import adversarial

import opcheck

MODES = ["full", "fast"]
BY_NAME = {op.name: op for op in adversarial.BUGS + adversarial.OK}


def test_the_gallery_is_what_it_says() -> None:
    assert len(adversarial.BUGS) >= 15 and len(adversarial.OK) >= 20
    assert all(op.name.startswith("adv.bug.") for op in adversarial.BUGS)
    assert all(op.name.startswith("adv.ok.") for op in adversarial.OK)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(op.name for op in adversarial.BUGS))
def test_every_bug_is_caught(name: str, mode: str) -> None:
    report = opcheck.audit(BY_NAME[name], seed=0, mode=mode)
    assert report.status == "fail", str(report)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(op.name for op in adversarial.OK))
def test_no_correct_op_is_flagged(name: str, mode: str) -> None:
    report = opcheck.audit(BY_NAME[name], seed=0, mode=mode)
    assert report.status == "pass", str(report)


@pytest.mark.parametrize("seed", range(1, 5))
@pytest.mark.parametrize("name, mode", [
    ("adv.bug.layernorm_d512_half_percent.float32", "full"),
    ("adv.bug.exp_flush_small_grads.float16", "full"),
    ("adv.bug.exp_flush_small_grads.float16", "fast"),
    ("adv.bug.std_from_small_var_missing_half.float32", "fast"),
])
def test_bugs_that_once_slipped_are_caught_at_every_seed(name: str, mode: str, seed: int) -> None:
    assert opcheck.audit(BY_NAME[name], seed=seed, mode=mode).status == "fail"


def test_a_float64_op_computing_in_float32_is_checked_at_float32_precision() -> None:
    report = opcheck.audit(BY_NAME["adv.ok.mixed_precision_tanh_layer"], seed=0)
    assert report.status == "pass", str(report)
    assert any("exact float32 numbers" in w for w in report.warnings), report.warnings
    assert report.variants[0].inputs[0].rtol > 1e-4  # float32's tolerance, not float64's


def test_fast_mode_hands_elements_near_a_bound_to_the_full_check() -> None:
    report = opcheck.audit(BY_NAME["adv.bug.std_from_small_var_missing_half.float32"], mode="fast")
    item = report.variants[0].inputs[0]
    assert report.status == "fail" and item.method in ("loop", "batched")
    # (a range narrower than eight steps: no one-sided stencil fits, so the whole input
    # goes to the element-wise check, and the note says why)
    assert any("of the input's range" in note and "checked element by element" in note
               for note in item.notes), item.notes
