"""instincts: deep-learning folklore, tested as statistical pytest claims."""

from instincts.budget import BUDGETS, Budget
from instincts.claim import claim
from instincts.expect import Decreasing, Equivalent, Exact, Increasing, NonInferior, Predicts, Superior
from instincts.experiment import Experiment, RunContext
from instincts.verdict import INCONCLUSIVE, REFUTED, SUPPORTED, Outcome, Verdict

__all__ = ["BUDGETS", "Budget", "Decreasing", "Equivalent", "Exact", "Experiment", "INCONCLUSIVE",
           "Increasing", "NonInferior", "Outcome", "Predicts", "REFUTED", "RunContext", "SUPPORTED", "Superior",
           "Verdict", "claim"]
__version__ = "0.1.0"
