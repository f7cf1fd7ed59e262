"""instincts: deep-learning folklore, tested as statistical pytest claims.

This module is the public API: everything a claim, a catalogue helper or a plugin user needs
(``from instincts import claim, Superior, Recipe, fit``). The catalogue (``claims/``,
``fixtures/``, ``models/``) imports only these names, never the engine's modules, so the engine
can move code between its modules without touching a claim.

Names load on first use (PEP 562), so ``import instincts`` and the pytest plugin stay cheap:
torch, scipy, statsmodels and matplotlib are imported only when a claim needs them.

PYTEST_DONT_REWRITE: the engine's own asserts are invariants, not test assertions; the marker keeps
pytest >= 9 from warning that the plugin's package was imported before it could be rewritten when
pytester runs sessions in-process.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from instincts._version import __version__

if TYPE_CHECKING:
    from instincts.budget import BUDGETS, Budget
    from instincts.checks import Requires, trained
    from instincts.devices import environment
    from instincts.errors import CacheWarning, ClaimsFileError, InstinctsError, InvalidArgument
    from instincts.expect import Decreasing, Equivalent, Exact, Increasing, NonInferior, Predicts, Superior
    from instincts.experiment import Experiment, RunContext
    from instincts.marks import claim
    from instincts.strategies import log_floats, log_integers
    from instincts.timing import (
        MIN_RUN_TIME,
        PairedTimes,
        Reference,
        benchmark_interleaved,
        copy_bandwidth,
        synchronizer,
        throughput_ratio,
        time_interleaved,
    )
    from instincts.trainer import (
        Cosine,
        EarlyStopping,
        Group,
        Member,
        RangeSchedule,
        Recipe,
        SoftTargets,
        Split,
        Switch,
        Trained,
        batches,
        check_strategy,
        choose_strategy,
        fit,
        init_models,
        noisy_labels,
        permutations,
        recalibrate_batchnorm,
        seed_streams,
        split_indices,
        train,
    )
    from instincts.verdict import INCONCLUSIVE, REFUTED, SUPPORTED, Outcome, Verdict

_EXPORTS = {
    "instincts.budget": ("BUDGETS", "Budget"),
    "instincts.marks": ("claim",),
    "instincts.checks": ("Requires", "trained"),
    "instincts.strategies": ("log_floats", "log_integers"),
    "instincts.devices": ("environment",),
    "instincts.errors": ("CacheWarning", "ClaimsFileError", "InstinctsError", "InvalidArgument"),
    "instincts.expect": ("Decreasing", "Equivalent", "Exact", "Increasing", "NonInferior", "Predicts", "Superior"),
    "instincts.experiment": ("Experiment", "RunContext"),
    "instincts.timing": ("MIN_RUN_TIME", "PairedTimes", "Reference", "benchmark_interleaved", "copy_bandwidth",
                         "synchronizer", "throughput_ratio", "time_interleaved"),
    "instincts.trainer": ("Cosine", "EarlyStopping", "Group", "Member", "RangeSchedule", "Recipe", "SoftTargets",
                        "Split", "Switch", "Trained", "batches", "check_strategy", "choose_strategy", "fit",
                        "init_models", "noisy_labels", "permutations", "recalibrate_batchnorm", "seed_streams",
                        "split_indices", "train"),
    "instincts.verdict": ("INCONCLUSIVE", "REFUTED", "SUPPORTED", "Outcome", "Verdict"),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

# the names of _EXPORTS, spelled out for tools that read __all__ statically (a test keeps them equal)
__all__ = ["BUDGETS", "Budget", "CacheWarning", "ClaimsFileError", "Cosine", "Decreasing", "EarlyStopping",
           "Equivalent", "Exact", "Experiment", "Group", "INCONCLUSIVE", "Increasing", "InstinctsError",
           "InvalidArgument", "MIN_RUN_TIME", "Member", "NonInferior", "Outcome", "PairedTimes", "Predicts", "REFUTED",
           "RangeSchedule", "Recipe", "Reference", "Requires", "RunContext", "SUPPORTED", "SoftTargets", "Split",
           "Superior", "Switch", "Trained", "Verdict", "__version__", "batches", "benchmark_interleaved",
           "check_strategy", "choose_strategy", "claim", "copy_bandwidth", "environment", "fit", "init_models",
           "log_floats", "log_integers", "noisy_labels", "permutations", "recalibrate_batchnorm", "seed_streams",
           "split_indices", "synchronizer", "throughput_ratio", "time_interleaved", "train", "trained"]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'instincts' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
