"""`PAPER` takes the decisions of the authors' reference code (kakaobrain/autowu).

The loss curves are the ones `benchmarks/paper_agreement.py` recorded
(`benchmarks/results/paper_curves.npz`: LAMB, Adam, AdamW, SGD, SGD with
momentum and RMSprop runs on the package's warmup), and the reference's
decisions on them are stored beside them (`paper_reference.json`: its
`AutoWU`, PyTorch + GPyTorch, fed the losses one step at a time), so no
torch is needed here. `replay(..., options=PAPER)` must switch at the
reference's step, from its peak LR, with the same vote at every test.
"""

import json
import os

import numpy as np
import pytest

from keras_autolr import Options
from keras_autolr import PAPER
from keras_autolr import replay

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "benchmarks", "results")


def _curves():
    data = np.load(os.path.join(RESULTS, "paper_curves.npz"))
    metas = json.loads(str(data["meta"]))
    return {m["name"]: (m, np.asarray(data[m["name"]], np.float64)) for m in metas}


CURVES = _curves()
with open(os.path.join(RESULTS, "paper_reference.json")) as _f:
    REFERENCE = json.load(_f)["runs"]
# `replay(digits-adam-b128, options=Options())` before `gp` existed.
SWITCH_DEFAULT, PEAK_DEFAULT = 144, 0.009136448829215292


def _replay(name, options):
    meta, losses = CURVES[name]
    return replay(losses, meta["total_steps"], steps_per_epoch=meta["steps_per_epoch"],
                  options=options)


@pytest.mark.parametrize("name", sorted(CURVES))
def test_paper_switches_where_the_reference_does(name):
    """The reference's own decision (its generator seed 0) on 19 of 20 curves.

    On mnist-adamw-b256 the reference disagrees with itself: the test at
    step 143 is on the edge (past-minimum probability 0.941, 0.967, 0.945
    under its generator seeds 0, 1, 2, against 0.95), so it switches at 182
    under seeds 0 and 2 and at 169 under seed 1. Fed the reference's own
    subsample, `PAPER` finds 0.9408 there (the reference: 0.941); under its
    own draw, 0.968, and it takes seed 1's decision (over the reference's
    seeds 0 to 22: 16 switch at 169, 7 at 182). Each curve must match
    the reference under one of its seeds, seed 0 first.
    """
    decision = _replay(name, PAPER)
    seeds = [s for s in (0, 1, 2)
             if REFERENCE[f"{name}@{s}"]["switch_step"] == decision.switch_step]
    assert seeds, "no reference seed switches at this step"
    assert name == "mnist-adamw-b256" or seeds[0] == 0
    ref = REFERENCE[f"{name}@{seeds[0]}"]
    assert decision.switch_step == ref["switch_step"]
    assert (decision.reason == "cap") == (ref["reason"] == "cap")
    if ref["reason"] == "cap":  # the LR reached: lr(W - 1), float32 there
        assert decision.peak_lr == pytest.approx(ref["peak_lr"], rel=1e-6)
    else:  # the mean of 5 posteriors' argmin: other draws, float64 here
        assert decision.peak_lr == pytest.approx(ref["peak_lr"], rel=0.15)
    # Test by test: the same steps, the same votes.
    assert [(t.step, t.positive) for t in decision.tests] == [
        (t["step"], t["positive"]) for t in ref["tests"]]


def test_the_library_gp_decides_otherwise_on_a_paper_curve():
    """The same curve with PAPER's rule but the library's GP fit: an earlier switch.

    On this Adam curve (loss 2.3 -> 0.07) the library's standardized fit
    calls the minimum 3 epochs before the reference does, from a peak LR
    6x lower; `gp="reference"` is what agrees.
    """
    ref = REFERENCE["mnist-adam-b256@0"]
    library = _replay("mnist-adam-b256", PAPER.replace(gp="library"))
    assert library.switch_step < ref["switch_step"] - 13
    assert library.peak_lr < ref["peak_lr"] / 3


def test_the_defaults_decide_as_before_on_a_paper_curve():
    """`Options()` is untouched by `gp`: today's decision, pinned."""
    decision = _replay("digits-adam-b128", Options())
    assert (decision.switch_step, decision.reason) == (SWITCH_DEFAULT, "detected")
    assert decision.peak_lr == pytest.approx(PEAK_DEFAULT, rel=1e-12)


def test_paper_is_the_reference_gp():
    assert PAPER.gp == "reference" and Options().gp == "library"
    with pytest.raises(ValueError, match="Received gp='torch'"):
        Options(gp="torch")
