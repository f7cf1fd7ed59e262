"""The ``@claim`` decorator: what a test claims, where it comes from, and how it is checked."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from instincts.alpha import check_plan
from instincts.errors import InvalidArgument

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ClaimInfo:
    id: str  # catalogue id, e.g. "BS-1"
    statement: str  # the falsifiable statement; the report's title
    section: str = ""  # seed section (Allure epic)
    question: str = ""  # the seed question (Allure feature)
    anchors: tuple[str, ...] = field(default_factory=tuple)
    method: str = ""  # data, model, metric, how it is measured
    timing: bool = False  # the metric is wall-clock time: it varies with the machine and its load
    comparisons: int = 1  # compare/trend/predicts calls per example: the claim's alpha plan (instincts.alpha)
    prediction: str = ""  # what the anchors predict for this measurement, shown beside what was measured
    check: bool = False  # guards the apparatus (an identity, a result true by construction), not evidence

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "statement": self.statement, "section": self.section,
               "question": self.question, "anchors": list(self.anchors), "method": self.method}
        if self.prediction:
            out["prediction"] = self.prediction
        if self.check:
            out["check"] = True
        if self.comparisons != 1:
            out["comparisons"] = self.comparisons
        return {**out, "timing": True} if self.timing else out


def claim(id: str, statement: str, *, section: str = "", question: str = "",
          anchors: Sequence[str] = (), method: str = "", timing: bool = False,
          comparisons: int = 1, prediction: str = "", check: bool = False) -> Callable[[F], F]:
    """Mark a test as a claim. Put it above ``@given`` so it decorates the final test.

    ``timing=True`` says the metric is wall-clock time: the gate reports a change of its verdict
    or effect between runs as a warning (machines and load differ), not as a regression.
    ``comparisons`` is how many compare/trend/predicts calls one example makes: the REFUTED side
    of the claim's alpha is planned over examples x comparisons (``instincts.alpha``); calls beyond
    it are still counted, from a small reserve, so an undeclared one keeps the error rate but
    has little power to refute. ``prediction`` is what the anchors predict in this claim's metric
    ("within ±5%: 26 min at both B=128 and B=129"): the report puts it beside the measurement.
    ``check=True`` labels a claim that guards the apparatus rather than testing folklore (an identity
    that fails only on a bug, a result true by construction): it runs and gates like any claim but
    is counted apart from evidence (the summary, the false-discovery view and the report).
    """
    if not id or not isinstance(id, str):
        raise InvalidArgument(f"claim id={id!r} is not allowed: give a non-empty catalogue id such as 'BS-1'")
    if not statement:
        raise InvalidArgument(f"claim {id}: statement is empty; write the falsifiable statement the test checks")
    check_plan(1, comparisons)
    if not isinstance(prediction, str):
        raise InvalidArgument(f"claim {id}: prediction={prediction!r} is not allowed: give the anchors' prediction "
                              "as text")
    info = ClaimInfo(id, statement, section, question, tuple(anchors), method, bool(timing), comparisons,
                     prediction, bool(check))

    def decorate(fn: F) -> F:
        fn._instincts_claim = info  # type: ignore[attr-defined]
        return pytest.mark.claim(id)(fn)

    return decorate


def claim_info(item: pytest.Item) -> ClaimInfo | None:
    return getattr(getattr(item, "function", None), "_instincts_claim", None)
