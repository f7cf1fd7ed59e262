"""Arms: cache identities of configs and callables, and clear errors for bad arms and inputs."""

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from instincts import (
    BUDGETS,
    Decreasing,
    Equivalent,
    Exact,
    Increasing,
    InvalidArgument,
    NonInferior,
    Predicts,
    Superior,
    arms,
)
from instincts.arms import check_arm, describe, identity, run_callable
from instincts.cache import RunCache, digest
from instincts.experiment import Experiment


@pytest.fixture
def exp() -> Experiment:
    return Experiment(BUDGETS["smoke"], torch.device("cpu"), RunCache(None))


@dataclass(frozen=True)
class Toy:
    lr: float = 0.1
    width: int = 8
    tags: tuple = ("a",)
    calls: list = field(default_factory=list, compare=False, hash=False, repr=False)

    def run(self, seeds, context):
        self.calls.append(list(seeds))
        return [{"accuracy": self.lr * self.width + 0.01 * s, "loss": 1.0 / (1 + s)} for s in seeds]


@dataclass(frozen=True)
class OtherToy:
    lr: float = 0.1
    width: int = 8
    tags: tuple = ("a",)
    calls: list = field(default_factory=list, compare=False, hash=False, repr=False)

    def run(self, seeds, context):
        return [{"accuracy": 0.0} for _ in seeds]


def module_level(seed: int) -> float:
    return float(seed)


def other_module_level(seed: int) -> float:
    return float(seed)


def make_closure(batch):
    return lambda seed: seed * batch


def make_pair(batch):
    """Two lambdas of one scope over the same ``batch``: the usual compare(A, B) in a claim."""
    return lambda seed: seed + batch + 1, lambda seed: seed + batch


def make_nested(batch):
    def train(seed):
        return seed * batch

    return lambda seed: train(seed)


# -- identity ------------------------------------------------------------------------------------

def test_config_identity_follows_type_and_fields():
    assert identity(Toy()) == identity(Toy()) is not None
    assert identity(Toy(lr=0.2)) != identity(Toy())
    assert identity(Toy(tags=("a", "b"))) != identity(Toy())
    assert identity(OtherToy()) != identity(Toy())  # same fields, another trainer
    assert identity(Toy(lr=math.inf)) != identity(Toy(lr=-math.inf))


def test_function_identity_is_stable_and_distinct():
    assert identity(module_level) == identity(module_level) is not None
    assert identity(module_level) != identity(other_module_level)
    assert "module_level" in identity(module_level)["callable"]


def test_closures_over_different_values_differ():
    assert identity(make_closure(2)) == identity(make_closure(2)) is not None
    assert identity(make_closure(2)) != identity(make_closure(3))
    assert digest(identity(make_closure(2))) != digest(identity(make_closure(2.0)))  # 2 == 2.0 in Python


def test_two_lambdas_of_one_scope_differ():
    a, b = make_pair(4)
    assert identity(a) is not None and identity(b) is not None
    assert identity(a) != identity(b)
    assert identity(a) == identity(make_pair(4)[0])


def test_closure_over_a_helper_follows_what_the_helper_captures():
    assert identity(make_nested(2)) == identity(make_nested(2)) is not None
    assert identity(make_nested(2)) != identity(make_nested(3))


def test_recursive_local_function_has_an_identity():
    def make(depth):
        def f(seed):
            return seed if seed <= 0 else f(seed - 1) + depth
        return f

    assert identity(make(1)) is not None
    assert identity(make(1)) != identity(make(2))


def test_partial_and_defaults_are_part_of_identity():
    p1, p2 = functools.partial(make_closure, 1), functools.partial(make_closure, 2)
    assert identity(p1) != identity(p2)

    def with_default(seed, k=1):
        return seed * k

    def with_other_default(seed, k=1):
        return seed * k

    with_other_default.__defaults__ = (2,)
    assert identity(with_default)["defaults"] == [1] and identity(with_other_default)["defaults"] == [2]


def test_unidentifiable_arms_are_not_cached():
    tensor = torch.ones(3)
    array = np.ones(3)
    thing = object()
    assert identity(lambda seed: float(tensor.sum()) + seed) is None
    assert identity(lambda seed: float(array.sum()) + seed) is None
    assert identity(lambda seed: id(thing) + seed) is None
    assert identity(make_nested(tensor)) is None  # through a helper too
    assert identity(print) is None  # a builtin

    class Model:
        def __init__(self, weight):
            self.weight = weight

        def __call__(self, seed):
            return float(self.weight.sum()) + seed

    assert identity(Model(tensor)) is None
    assert identity(Model(2.0)) != identity(Model(3.0))
    assert identity(Model(2.0)) is not None


def test_identity_is_json_and_cache_safe_for_non_finite_values(tmp_path):
    clip = math.inf
    arm = make_closure(clip)
    assert identity(arm)["closure"] == ["inf"]
    cache = RunCache(tmp_path)
    cache.put({"arm": identity(arm), "seed": 0}, {"value": 1.0})  # the strict JSON writer accepts it
    assert RunCache(tmp_path).get({"arm": identity(arm), "seed": 0}) == {"value": 1.0}


def test_uncached_arm_runs_every_time(exp: Experiment):
    tensor = torch.ones(1)
    calls = []

    def arm(seed):
        calls.append(seed)
        return float(tensor) + seed

    exp.values(arm, "value", [0, 1, 2])
    exp.values(arm, "value", [0, 1, 2])
    assert calls == [0, 1, 2, 0, 1, 2]


def test_closures_do_not_collide_in_the_cache(exp: Experiment):
    """A lambda in a hypothesis test capturing ``batch`` must not reuse another batch's result."""
    by_batch = {batch: exp.values(make_closure(batch), "value", [1, 2]).tolist() for batch in (1, 2, 3)}
    assert by_batch == {1: [1.0, 2.0], 2: [2.0, 4.0], 3: [3.0, 6.0]}
    by_batch = {batch: exp.values(make_nested(batch), "value", [1, 2]).tolist() for batch in (1, 2, 3)}
    assert by_batch == {1: [1.0, 2.0], 2: [2.0, 4.0], 3: [3.0, 6.0]}
    a, b = make_pair(10)
    verdict = exp.compare(a, b, metric="value", expect=Superior(), seeds=4)
    assert verdict.effect == 1.0 and verdict.reason.startswith("zero spread")  # each its own batch


def test_config_arm_runs_missing_seeds_in_one_batch(exp: Experiment):
    toy = Toy()
    exp.values(toy, "accuracy", [0, 1, 2, 3])
    exp.values(Toy(), "accuracy", [0, 1, 2, 3, 4, 5])  # an equal config shares the cached seeds
    assert toy.calls == [[0, 1, 2, 3]]
    twin = Toy()
    exp.values(twin, "loss", [4, 5, 6])
    assert twin.calls == [[6]]


def test_config_returning_wrong_count_is_an_error(exp: Experiment):
    @dataclass(frozen=True)
    class Short:
        def run(self, seeds, context):
            return [{"value": 1.0}]

    with pytest.raises(ValueError, match="Short.run returned 1 results for 3 seeds"):
        exp.values(Short(), "value", [0, 1, 2])


def test_seeded_callables_are_paired():
    def draw(seed):
        return float(torch.rand(()) + np.random.rand())

    assert run_callable(draw, 5) == run_callable(draw, 5)
    assert run_callable(draw, 5) != run_callable(draw, 6)
    assert run_callable(lambda s: {"acc": torch.tensor(0.5), "loss": np.float32(2)}, 0) == {"acc": 0.5, "loss": 2.0}


def test_describe():
    assert describe(Toy(lr=0.5)) == {"arm": "Toy", "lr": 0.5, "width": 8, "tags": ("a",), "calls": []}
    assert describe(make_closure(1)) == {"arm": "make_closure.<lambda>"}


# -- clear errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [42, "model", None, Toy, [module_level]], ids=["int", "str", "None", "class", "list"])
def test_arm_neither_config_nor_callable(exp: Experiment, bad):
    with pytest.raises(TypeError, match="is neither a config") as info:
        exp.compare(module_level, bad, metric="value", expect=Superior())
    assert f"arm_b={bad!r}" in str(info.value)


def test_dataclass_without_run_is_not_an_arm():
    @dataclass
    class NoRun:
        lr: float = 0.1

    with pytest.raises(TypeError, match=r"arm=.*NoRun.*is neither a config"):
        check_arm(NoRun(), "arm")


def test_missing_metric_lists_what_the_arm_returned(exp: Experiment):
    def arm(seed):
        return {"loss": 0.1, "acc": 0.9}

    with pytest.raises(InvalidArgument, match=r"arm_a returned metrics \['acc', 'loss'\], not 'accuracy'"):
        exp.compare(arm, arm, metric="accuracy", expect=Superior())


def test_a_single_number_serves_any_metric_name(exp: Experiment):
    assert exp.values(module_level, "accuracy", [0, 1]).tolist() == [0.0, 1.0]


@pytest.mark.parametrize("bad_value", [math.nan, math.inf])
def test_non_finite_metric_names_arm_seed_and_metric(exp: Experiment, bad_value):
    calls = []

    def diverges(seed):
        calls.append(seed)
        return {"accuracy": bad_value if seed == 3 else 0.5}

    with pytest.raises(ValueError, match=rf"arm_b gave accuracy={bad_value!r} at seed 3"):
        exp.compare(module_level, diverges, metric="accuracy", expect=Superior(), seeds=4)
    with pytest.raises(ValueError):  # a non-finite result is never cached: it runs again
        exp.values(diverges, "accuracy", [3])
    assert calls.count(3) == 2


def test_non_numeric_metric(exp: Experiment):
    with pytest.raises(TypeError, match="metric 'accuracy' must be a number, got 'high'"):
        exp.values(lambda s: {"accuracy": "high"}, "accuracy", [0, 1])


@pytest.mark.parametrize("seeds", [1, 0, -3, 2.5, True])
def test_seeds_below_two_are_refused(exp: Experiment, seeds):
    with pytest.raises(ValueError, match=r"seeds=.* is not allowed: a paired test needs an integer >= 2"):
        exp.compare(module_level, module_level, metric="value", expect=Superior(), seeds=seeds)
    with pytest.raises(ValueError, match="a paired test needs"):
        exp.trend({1: module_level, 2: module_level}, metric="value", seeds=seeds)


@pytest.mark.parametrize("expect", [Increasing(), Decreasing(), Exact()], ids=repr)
def test_compare_refuses_other_expectations(exp: Experiment, expect):
    with pytest.raises(TypeError, match=r"cannot be judged by compare\(\)"):
        exp.compare(module_level, module_level, metric="value", expect=expect)


@pytest.mark.parametrize("expect", [Superior(), NonInferior(), Equivalent(), Exact()], ids=repr)
def test_trend_refuses_other_expectations(exp: Experiment, expect):
    with pytest.raises(TypeError, match=r"cannot be judged by trend\(\)"):
        exp.trend({1: module_level, 2: module_level}, metric="value", expect=expect)


@pytest.mark.parametrize("expect", [Superior(), Increasing(), Equivalent()], ids=repr)
def test_exact_refuses_other_expectations(exp: Experiment, expect):
    with pytest.raises(TypeError, match=r"cannot be judged by exact\(\)"):
        exp.exact(module_level, expect=expect)


@pytest.mark.parametrize("expect", ["superior", Superior, 0.05, None], ids=repr)
def test_expect_must_be_an_expectation(exp: Experiment, expect):
    with pytest.raises(TypeError, match="is not an expectation: use Superior"):
        exp.compare(module_level, module_level, metric="value", expect=expect)


def test_trend_needs_two_levels(exp: Experiment):
    with pytest.raises(ValueError, match="a trend needs at least 2 levels, got 1"):
        exp.trend({1: module_level}, metric="value")


def test_nothing_ran_before_a_refused_expectation(exp: Experiment):
    calls = []

    def arm(seed):
        calls.append(seed)
        return 0.0

    with pytest.raises(TypeError):
        exp.compare(arm, arm, metric="value", expect=Increasing())
    assert calls == [] and exp.records == []


def test_identity_digest_is_a_stable_cache_key():
    assert digest({"arm": identity(make_closure(2)), "seed": 0}) == digest({"arm": identity(make_closure(2)),
                                                                           "seed": 0})


def test_editing_an_imported_helper_module_changes_the_identity(tmp_path, monkeypatch):
    """A stale cache hit after editing fixtures/ or models/ would serve old numbers."""
    import importlib
    import sys

    pkg = tmp_path / "proj_edit"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helper.py").write_text("def data():\n    return 1\n")
    (pkg / "claim.py").write_text("from proj_edit.helper import data\n\ndef arm(seed):\n    return data() + seed\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def ident():
        arms._module_hash.cache_clear()
        for name in ("proj_edit.claim", "proj_edit.helper"):
            sys.modules.pop(name, None)
        return arms.identity(importlib.import_module("proj_edit.claim").arm)

    before = ident()
    assert ident() == before  # stable across imports
    (pkg / "helper.py").write_text("def data():\n    return 2\n")
    assert ident() != before
    for name in ("proj_edit", "proj_edit.claim", "proj_edit.helper"):
        sys.modules.pop(name, None)
    arms._module_hash.cache_clear()


def test_predicts_judges_observed_minus_predicted_from_one_arm(exp):
    """A law fitted per seed returns its prediction beside the observation; the arm runs once."""
    calls = []

    def law(seed):
        calls.append(seed)
        noise = np.random.default_rng(seed).normal(0, 0.001)
        return {"observed": 0.20 + noise, "good": 0.20, "bad": 0.15}

    good = exp.predicts(law, observed="observed", predicted="good", expect=Predicts(tol=0.01))
    assert good.outcome.value == "SUPPORTED" and "predicts within ±0.010: observed - predicted" in good.line()
    assert exp.predicts(law, observed="observed", predicted="bad", expect=Predicts(tol=0.01)).outcome.value == "REFUTED"
    assert exp.records[-1].labels == ["observed", "bad"] and exp.records[-1].kind == "predicts"
    assert len(calls) == 2 * exp.budget.seeds  # once per seed and call, not once per metric
    with pytest.raises(TypeError, match="predicts\\(\\) take"):
        exp.predicts(law, observed="observed", predicted="good", expect=Increasing())
    with pytest.raises(ValueError, match="tol=-1"):
        Predicts(tol=-1)
