"""Unit tests for the RC-2, RC-7 (Thresholdout), RC-8, RC-9 and RC-10 helpers and arms.

The exact claims must be able to fail: each property is broken on purpose here (a fold with the wrong
epsilon, a fusion without the identity branch, a collapse that skips a layer, a wrong parse) and the
error the claim's arm reports must be far above the claim's tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from torch import nn

import fixtures.arms.architecture as architecture_arms
from fixtures.anchor_report import attach_anchor_plot, attach_bpr
from fixtures.architectures import Architecture, architectures
from fixtures.arms.anchors import Anchors
from fixtures.arms.architecture import (
    FusionSpeedup,
    Student,
    StudentGrid,
    TaskNet,
    bn_fold_error,
    collapse_error,
    fusion_error,
    layer_list_error,
    moons_split,
    random_block,
    repr_round_trip_error,
)
from fixtures.boxes import best_possible_recall, draw_boxes, iou_wh, kmeans_anchors, mean_best_iou, scaled_anchors
from fixtures.selection import select_on_test
from fixtures.thresholdout import Thresholdout, reuse_gaps
from instincts import BUDGETS, InvalidArgument, RunContext
from models.from_text import from_layers, from_repr, parameter_count
from models.linear import collapse, deep_linear
from models.repvgg import RepVGGBlock, RepVGGNet, fuse

# -- broken on purpose: the exact arms report large errors ----------------------------------------


def test_bn_fold_with_wrong_eps_is_caught():
    assert bn_fold_error(0, (3, 5), 3) < 1e-10
    assert bn_fold_error(0, (3, 5), 3, eps=0.5) > 1e-2


def test_fusion_without_identity_branch_is_caught():
    assert fusion_error(0, 8, 8, 1) < 1e-4
    assert fusion_error(0, 8, 8, 1, identity=False) > 0.1
    # no identity branch exists when the channels change: leaving it out changes nothing
    assert fusion_error(0, 8, 16, 1, identity=False) < 1e-4


def test_collapse_skipping_a_layer_is_caught():
    torch.manual_seed(0)
    net = deep_linear([5, 5, 5, 3])
    x = torch.randn(10, 5, dtype=torch.float64)
    w, b = collapse(nn.Sequential(net[0], net[2]))  # the middle layer left out
    assert (net(x) - (x @ w.T + b)).abs().max() > 1e-3


def test_collapse_with_a_dropped_bias_is_caught():
    torch.manual_seed(0)
    net = deep_linear([6, 5, 3])
    x = torch.randn(10, 6, dtype=torch.float64)
    assert collapse_error(0, (6, 5, 3)) < 1e-12
    w, _ = collapse(net)
    assert (net(x) - x @ w.T).abs().max() > 1e-3


def test_collapse_rejects_nonlinear_layers():
    with pytest.raises(ValueError, match="ReLU"):
        collapse(nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2)))


def test_wrong_parse_is_caught():
    arch = Architecture(("conv3x3-4", "relu", "gap", "linear-2"), (1, 8, 8), 3 * 3 * 4 + 4 + 4 * 2 + 2, (2,))
    assert layer_list_error(0, arch) == 0
    wrong_count = Architecture(arch.layers, arch.in_shape, arch.params + 1, arch.out_shape)
    assert layer_list_error(0, wrong_count) == 1
    wrong_shape = Architecture(arch.layers, arch.in_shape, arch.params, (3,))
    assert layer_list_error(0, wrong_shape) == 1


def test_repr_parse_that_drops_padding_is_caught(monkeypatch):
    arch = Architecture(("conv3x3-4", "relu", "gap", "linear-2"), (1, 8, 8), 3 * 3 * 4 + 4 + 4 * 2 + 2, (2,))
    assert repr_round_trip_error(0, arch) == 0

    def careless(text: str) -> nn.Sequential:  # same parameters and output shape, different network
        return from_repr(text.replace("padding=(1, 1)", "padding=(0, 0)"))

    monkeypatch.setattr(architecture_arms, "from_repr", careless)
    assert repr_round_trip_error(0, arch) > 1  # repr differs (1) and so do the outputs


# -- parsers ----------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(arch=architectures())
def test_layer_lists_rebuild_what_the_text_says(arch):
    model = from_layers(arch.text, arch.in_shape)
    assert parameter_count(model) == arch.params
    assert tuple(model(torch.randn(2, *arch.in_shape)).shape[1:]) == arch.out_shape
    assert repr(from_repr(repr(model))) == repr(model)


@pytest.mark.parametrize("text, bad", [
    ("conv3x3-8, softmaxx, gap, linear-2", "'softmaxx'"),
    ("conv3x4-8, gap, linear-2", "'conv3x4-8'"),
    ("conv4x4-8, gap, linear-2", "'conv4x4-8'"),
    ("linear-2", "'linear-2'"),
    ("conv3x3-8, gap, conv3x3-8", "'conv3x3-8'"),
    ("conv3x3-8,, gap", "empty layer"),
    ("maxpool9, gap", "'maxpool9'"),
])
def test_layer_list_errors_name_the_token_and_the_grammar(text, bad):
    with pytest.raises(ValueError, match=bad):
        from_layers(text, (1, 8, 8))


def test_unknown_token_lists_what_is_allowed():
    with pytest.raises(ValueError, match="allowed: conv<k>x<k>-<out>"):
        from_layers("conv3x3-8, softmaxx", (1, 8, 8))


def test_bad_input_shape():
    with pytest.raises(ValueError, match=r"in_shape=\(1, 8\)"):
        from_layers("gap", (1, 8))


@pytest.mark.parametrize("line, match", [
    ("  (0): Evil(__import__('os'))", "not a literal|not allowed"),
    ("  (0): Upsample(scale_factor=2)", "'Upsample' is not allowed"),
    ("  (0): Linear(in_features=4, out_features=2, bogus=1)", "do not fit Linear"),
    ("  (1): ReLU()", r"index \(1\) out of order"),
    ("  (0): Linear(4, 2", "expected"),
    ("  (0): Sequential(", "nested modules are not supported"),
    ("  (0): Linear(4; 2)", "cannot read"),
])
def test_repr_errors_are_clear(line, match):
    with pytest.raises(ValueError, match=match):
        from_repr(f"Sequential(\n{line}\n)")


def test_repr_evaluates_nothing():
    with pytest.raises(ValueError, match="expected '\\(<index>\\): <Module>"):
        from_repr("Sequential(\n  (0): os.system('true')\n)")
    with pytest.raises(ValueError, match="start with 'Sequential\\('"):
        from_repr("print(1)")


# -- RepVGG -------------------------------------------------------------------------------------------


def test_fused_block_is_one_conv():
    fused = fuse(random_block(1, 4, 4, 1))
    assert isinstance(fused[0], nn.Conv2d) and fused[0].kernel_size == (3, 3) and len(fused) == 2


def test_fusion_holds_with_stride_2():
    assert fusion_error(3, 4, 8, 2) < 1e-4


# -- distillation ------------------------------------------------------------------------------------


def fake_teachers(seeds: tuple[int, ...], device: str):
    """Random teacher logits in place of the CNN teachers (seconds, not a minute)."""
    g = torch.Generator().manual_seed(0)
    n = len(architecture_arms.digits_split()[0])
    facts = [{"best_val_accuracy": 0.99, "test_accuracy": 0.99}] * len(seeds)
    return torch.randn(len(seeds), n, 10, generator=g), facts


def test_distillation_without_the_soft_term_is_the_hard_label_student(monkeypatch):
    """alpha=0 leaves only the hard loss: the same init, data order and split give the hard-label result."""
    monkeypatch.setattr(architecture_arms, "teachers", fake_teachers)
    context = RunContext(BUDGETS["smoke"], torch.device("cpu"))
    hard = Student(lr=1e-2).run([0, 1], context)
    unsoftened = Student(lr=1e-2, temperature=4.0, alpha=0.0).run([0, 1], context)
    for a, b in zip(hard, unsoftened):
        assert a["test_accuracy"] == pytest.approx(b["test_accuracy"], abs=1e-9)
        assert b["teacher_val_accuracy"] == 0.99 and a["train_accuracy"] > 0.9  # the student converged


def test_student_grid_reports_every_recipe(monkeypatch):
    monkeypatch.setattr(architecture_arms, "teachers", fake_teachers)
    grid = StudentGrid((Student(temperature=2.0, alpha=0.5), Student(temperature=5.0, alpha=0.5)))
    rows = grid.run([0], RunContext(BUDGETS["smoke"], torch.device("cpu")))
    assert sorted(rows[0]) == ["val_accuracy[0]", "val_accuracy[1]"]


# -- RC-2 premises and RC-9's plain block ------------------------------------------------------------


def test_no_line_separates_the_moons():
    """The premise of the ReLU claim: the best linear classifier stays far below 100% on the moons."""
    from sklearn.linear_model import LogisticRegression

    x_tr, y_tr, x_te, y_te = moons_split()
    accuracy = LogisticRegression().fit(x_tr.numpy(), y_tr.numpy()).score(x_te.numpy(), y_te.numpy())
    assert 0.8 < accuracy < 0.9


def test_task_net_rejects_unknown_task_and_activation():
    with pytest.raises(InvalidArgument, match="task='mnist'"):
        TaskNet("mnist", 2)
    with pytest.raises(InvalidArgument, match="act='tanh'"):
        TaskNet("moons", 2, act="tanh")


def test_plain_block_has_only_the_3x3_branch_and_fuses_exactly():
    torch.manual_seed(0)
    block = RepVGGBlock(4, 4, branches=False).eval()
    assert block.conv1 is None and block.bn_id is None
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        assert (block(x) - fuse(block)(x)).abs().max() < 1e-5
    assert RepVGGNet(3, 8, branches=False)(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_fusion_speedup_reports_a_finite_log_ratio():
    rows = FusionSpeedup(channels=4, size=8, batch=1, min_run_time=0.01).run([0], RunContext(BUDGETS["smoke"],
                                                                                             torch.device("cpu")))
    assert np.isfinite(rows[0]["log_speedup"])


# -- Thresholdout ----------------------------------------------------------------------------------------


def test_thresholdout_answers_train_when_close_and_holdout_when_far():
    rng = np.random.default_rng(0)
    mech = Thresholdout(threshold=0.1, sigma=0.0)
    answers, used = mech.answers(np.array([0.8, 0.8]), np.array([0.85, 0.5]), rng)
    assert answers.tolist() == [0.8, 0.5] and used == 1


def test_thresholdout_budget_runs_out():
    mech = Thresholdout(threshold=0.0, sigma=0.0, budget=1)
    answers, used = mech.answers(np.zeros(3), np.ones(3), np.random.default_rng(0))
    assert answers.tolist() == [1.0, 0.0, 0.0] and used == 1


@pytest.mark.parametrize("kwargs, bad", [({"threshold": -1.0}, "threshold=-1.0"), ({"sigma": float("nan")}, "sigma"),
                                         ({"budget": 1.5}, "budget=1.5")])
def test_thresholdout_rejects_bad_parameters(kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        Thresholdout(**kwargs)


def test_plain_pick_is_the_selection_fixtures_pick():
    for seed in range(3):
        assert reuse_gaps(seed, 100, 25)["gap_plain"] == pytest.approx(select_on_test(seed, 100, 25)["gap"], abs=0)


# -- anchors -----------------------------------------------------------------------------------------------


class Recorder:
    """Stands in for the experiment: runs arms directly and records what would be attached."""

    def __init__(self):
        self.attached: dict[str, object] = {}

    def seeds(self) -> list[int]:
        return [0, 1, 2]

    def values(self, arm, metric, seeds, name):
        return np.array([row[metric] for row in arm.run(seeds, RunContext(BUDGETS["smoke"], torch.device("cpu")))])

    def attach(self, name, obj, kind=None):
        self.attached[name] = obj


def test_anchor_report_attaches_a_bpr_table_and_a_plot():
    experiment = Recorder()
    arms = {"IoU k-means": Anchors("iou", "mixed"), "hand-picked": Anchors("hand-picked", "mixed", k=9)}
    attach_bpr(experiment, arms)
    table = experiment.attached["best possible recall (YOLOv5, threshold 4)"].splitlines()
    assert table[0] == "seed\tBPR IoU k-means\tBPR hand-picked" and len(table) == 5 and table[-1].startswith("mean")
    attach_anchor_plot(experiment, "small")
    assert hasattr(experiment.attached["boxes and anchors (small, seed 0)"], "savefig")


def test_iou_of_identical_shapes_is_one_and_bpr_counts_ratio_rule():
    boxes = np.array([[10.0, 20.0], [100.0, 10.0]])
    assert iou_wh(boxes, boxes).diagonal().tolist() == [1.0, 1.0]
    anchors = np.array([[10.0, 20.0]])
    assert best_possible_recall(boxes, anchors) == 0.5  # 100x10 is 10x wider than 10x20
    assert mean_best_iou(boxes, anchors) == pytest.approx((1 + 100 / 1100) / 2)


def test_kmeans_finds_well_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[10.0, 40.0], [40.0, 10.0], [100.0, 100.0]])
    boxes = np.concatenate([c * np.exp(0.02 * rng.standard_normal((200, 2))) for c in centres])
    for distance in ("iou", "euclidean"):
        found = kmeans_anchors(boxes, 3, distance, seed=1)
        assert np.allclose(np.sort(found.prod(1)), np.sort(centres.prod(1)), rtol=0.05)


def test_scaled_anchors_match_geometric_size():
    boxes = draw_boxes(0, 500, "small")
    anchors = scaled_anchors(boxes)
    size = lambda x: np.exp(np.log(x.prod(1)).mean() / 2)  # noqa: E731
    assert size(anchors) == pytest.approx(size(boxes))


@pytest.mark.parametrize("call, bad", [
    (lambda b: kmeans_anchors(b, 0), "k=0"), (lambda b: kmeans_anchors(b, 3, "manhattan"), "distance='manhattan'"),
    (lambda b: draw_boxes(0, 100, "huge"), "skew='huge'"), (lambda b: iou_wh(b[:, :1], b), "boxes must be"),
])
def test_anchor_helpers_reject_bad_input(call, bad):
    with pytest.raises(ValueError, match=bad):
        call(draw_boxes(0, 50))
