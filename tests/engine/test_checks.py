"""Manipulation checks (``requires=``): a failed precondition withholds the verdict, with its reason."""

import pytest

from instincts import INCONCLUSIVE, REFUTED, SUPPORTED, InvalidArgument, Requires, Superior, trained
from instincts.budget import get_budget
from instincts.cache import RunCache
from instincts.experiment import Experiment


def arm(accuracy: float, train_accuracy: float):
    def run(seed: int) -> dict[str, float]:
        return {"acc": accuracy + 0.01 * ((seed * round(accuracy * 10)) % 5), "train_accuracy": train_accuracy}
    run.__name__ = f"arm_{accuracy}_{train_accuracy}"
    return run


@pytest.fixture
def experiment(tmp_path):
    import torch

    return Experiment(get_budget("smoke"), torch.device("cpu"), RunCache(tmp_path))


def test_passing_check_keeps_the_verdict(experiment):
    v = experiment.compare(arm(0.9, 0.99), arm(0.5, 0.95), metric="acc", expect=Superior(), requires=trained(0.9))
    assert v.outcome is SUPPORTED
    (record,) = experiment.records
    assert [c["passed"] for c in record.checks] == [True, True]
    assert record.checks[0]["value"] == pytest.approx(0.99)


def test_failed_check_is_inconclusive_with_its_reason(experiment):
    v = experiment.compare(arm(0.5, 0.99), arm(0.9, 0.3), metric="acc", expect=Superior(),
                           labels=("small", "large"), requires=trained(0.9))
    assert v.outcome is INCONCLUSIVE
    assert "manipulation check failed: large: train_accuracy 0.3, needs >= 0.9 (did not train)" in v.reason
    assert v.details["unchecked_outcome"] == REFUTED.value
    assert "manipulation check failed" in v.line()


def test_check_on_named_arms_only(experiment):
    v = experiment.compare(arm(0.9, 0.99), arm(0.5, 0.1), metric="acc", expect=Superior(),
                           labels=("model", "chance"), requires=Requires("train_accuracy", at_least=0.5,
                                                                         arms=("model",)))
    assert v.outcome is SUPPORTED
    assert [c["arm"] for c in experiment.records[0].checks] == ["model"]


def test_at_most_and_trend_levels(experiment):
    v = experiment.trend({1: arm(0.5, 0.9), 2: arm(0.6, 0.9), 3: arm(0.7, 0.9)}, metric="acc",
                         requires=Requires("train_accuracy", at_most=0.8, why="over-fits"))
    assert v.outcome is INCONCLUSIVE and "(over-fits)" in v.reason


@pytest.mark.parametrize("bad, message", [
    (dict(metric=""), "name the per-seed metric"),
    (dict(metric="x"), "has no bound"),
    (dict(metric="x", at_least=float("nan")), "give a finite number"),
    (dict(metric="x", at_least=1, arms="model"), "tuple of arm labels"),
])
def test_bad_checks_are_clear_errors(bad, message):
    with pytest.raises(InvalidArgument, match=message):
        Requires(**bad)


def test_unknown_arm_or_metric_is_an_error(experiment):
    with pytest.raises(InvalidArgument, match="names arms"):
        experiment.compare(arm(0.9, 0.9), arm(0.5, 0.9), metric="acc", expect=Superior(),
                           requires=Requires("train_accuracy", at_least=0.5, arms=("nope",)))
    with pytest.raises(InvalidArgument, match="reported no 'val'"):
        experiment.compare(arm(0.9, 0.9), arm(0.5, 0.9), metric="acc", expect=Superior(),
                           requires=Requires("val", at_least=0.5))
    with pytest.raises(InvalidArgument, match="give Requires"):
        experiment.compare(arm(0.9, 0.9), arm(0.5, 0.9), metric="acc", expect=Superior(), requires=[0.5])


def test_checks_and_prediction_reach_claims_json_and_the_report(experiment):
    from instincts.marks import ClaimInfo
    from instincts.report import description
    from instincts.results import ClaimResult

    experiment.compare(arm(0.5, 0.99), arm(0.9, 0.3), metric="acc", expect=Superior(), labels=("small", "large"),
                       config={"batch": 512}, requires=trained(0.9))
    info = ClaimInfo("X-1", "small beats large", prediction="small wins by 2pp (Keskar 2017)")
    result = ClaimResult.for_records(info, "t.py::x", experiment.records, "INCONCLUSIVE", "smoke", "cpu", 1.0, {})
    again = ClaimResult.from_dict(result.to_dict())
    assert again.prediction == "small wins by 2pp (Keskar 2017)"
    assert [c["passed"] for c in again.parts[0].checks] == [True, False]
    text = description(info, experiment.records, "smoke")
    assert "*Literature predicts:* small wins by 2pp (Keskar 2017)" in text
    assert "config: batch=512" in text
    assert "large: train_accuracy 0.3 >= 0.9 FAILED" in text
