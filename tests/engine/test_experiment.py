"""The experiment's records as data: arm labels in the verdict's sentence, training facts per arm
(into claims.json parts), attachments without allure, and the note that a failing verdict was asserted."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
import torch

from instincts import BUDGETS, InvalidArgument, Superior
from instincts.cache import RunCache
from instincts.experiment import Experiment, training_facts
from instincts.marks import ClaimInfo
from instincts.results import ClaimResult


def experiment(allure: bool = False) -> Experiment:
    return Experiment(BUDGETS["smoke"], torch.device("cpu"), RunCache(None), allure=allure)


def trained(seed: int) -> dict[str, float]:
    """An arm that reports the trainer's facts beside its metric."""
    return {"test_accuracy": 0.9 + 0.001 * seed, "epochs_run": 8.0 + seed % 3, "cap_hit": float(seed % 4 == 0),
            "train_loss": 0.1}


def worse(seed: int) -> dict[str, float]:
    return {**trained(seed), "test_accuracy": 0.8 + 0.002 * seed}  # paired differences vary by seed


def test_the_sentence_names_the_arms():
    v = experiment().compare(trained, worse, metric="test_accuracy", expect=Superior(min_effect=0.01),
                             labels=("b=16", "b=512"))
    assert v.line().startswith("b=16 superior to b=512 by > 1.0pp: diff +9.4pp")
    assert v.expectation == Superior(min_effect=0.01) and v.labels == ("b=16", "b=512")


def test_labels_must_be_two_names():
    with pytest.raises(InvalidArgument, match=r"labels=\('a',\) is not allowed: give two names"):
        experiment().compare(trained, worse, metric="test_accuracy", expect=Superior(), labels=("a",))


def test_training_facts_per_arm_reach_the_record_and_claims_json():
    exp = experiment()
    exp.compare(trained, worse, metric="test_accuracy", expect=Superior(), labels=("fast", "slow"))
    (record,) = exp.records
    seeds = range(12)
    expected = {"epochs_run": float(np.mean([8 + s % 3 for s in seeds])), "epochs_run_min": 8.0,
                "epochs_run_max": 10.0, "train_loss": 0.1, "cap_hit": 3 / 12, "cap_hit_min": 0.0, "cap_hit_max": 1.0}
    assert record.facts.keys() == {"fast", "slow"}
    assert record.facts["fast"] == pytest.approx(expected)
    result = ClaimResult.for_records(ClaimInfo("F-1", "facts"), "t.py::t", exp.records, "SUPPORTED", "smoke",
                                     "cpu", 1.0, {})
    assert result.parts[0].facts["slow"]["epochs_run_max"] == 10.0
    assert json.loads(json.dumps(result.to_dict()))["parts"][0]["facts"]["fast"]["cap_hit"] == 0.25
    assert record.to_dict()["facts"] == record.facts


def test_arms_without_facts_record_none():
    exp = experiment()
    exp.compare(lambda s: float(s), lambda s: float(s) - 1, metric="value", expect=Superior())
    assert exp.records[0].facts == {}
    assert training_facts([{"value": 1.0}]) == {}
    assert "facts" not in ClaimResult.for_records(ClaimInfo("F-2", "no facts"), "t.py::u", exp.records,
                                                  "SUPPORTED", "smoke", "cpu", 1.0, {}).to_dict()["parts"][0]


def test_asserting_a_failing_verdict_is_noted():
    exp = experiment()
    held = exp.compare(trained, worse, metric="test_accuracy", expect=Superior())
    assert held and not exp.asserted_unsupported
    failed = exp.compare(worse, trained, metric="test_accuracy", expect=Superior())
    assert not exp.asserted_unsupported  # judged, not yet tested
    with pytest.raises(AssertionError):
        assert failed
    assert exp.asserted_unsupported


@pytest.fixture
def allure_calls(monkeypatch) -> list[dict]:
    """A stand-in ``allure`` module that records what would be attached."""
    calls: list[dict] = []
    kinds = types.SimpleNamespace(**{k: k.lower() for k in ("TEXT", "CSV", "TSV", "JSON", "PNG", "SVG", "PDF")})
    fake = types.SimpleNamespace(attachment_type=kinds, attach=lambda body, name, attachment_type: calls.append(
        {"body": body, "name": name, "type": attachment_type}))
    monkeypatch.setitem(sys.modules, "allure", fake)
    return calls


def test_attach_converts_each_kind_of_object(allure_calls):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exp = experiment(allure=True)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    exp.attach("curve", fig)
    plt.close(fig)
    exp.attach("table", [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}])
    exp.attach("grid", [[1, 2], [3, 4]], kind="tsv")
    exp.attach("notes", "plain words")
    exp.attach("summary", {"mean": float("nan"), "n": 3})
    exp.attach("raw", b"<svg/>", kind="svg")
    by_name = {c["name"]: c for c in allure_calls}
    assert by_name["curve"]["type"] == "png" and by_name["curve"]["body"].startswith(b"\x89PNG")
    assert by_name["table"]["body"].splitlines() == ["epoch,loss", "1,0.5", "2,0.25"]
    assert by_name["grid"] == {"body": "1\t2\r\n3\t4\r\n", "name": "grid", "type": "tsv"}
    assert by_name["notes"]["type"] == "text"
    assert json.loads(by_name["summary"]["body"]) == {"mean": None, "n": 3}
    assert by_name["raw"]["type"] == "svg"


def test_attach_without_allure_checks_and_does_nothing(allure_calls):
    exp = experiment(allure=False)
    exp.attach("notes", "plain words")
    assert allure_calls == []
    with pytest.raises(InvalidArgument, match="bytes need their kind"):
        exp.attach("raw", b"\x89PNG")
    with pytest.raises(InvalidArgument, match="kind='png' does not fit a str"):
        exp.attach("notes", "text", kind="png")
    with pytest.raises(InvalidArgument, match="kind='docx' is not allowed"):
        exp.attach("notes", "text", kind="docx")
    with pytest.raises(InvalidArgument, match="cannot attach an object of type int"):
        exp.attach("number", 3)
    with pytest.raises(InvalidArgument, match="name='' is not allowed"):
        exp.attach("", "text")
