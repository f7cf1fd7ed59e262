"""Plots that answer the question: each comparison's data panel fits its kind (predicts: observed
against the fit's prediction with the ±tol band; a timing claim: per-repetition ratios; a trend: one
line per seed), and every row's title states the verdict and the margin."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from instincts import BUDGETS, Equivalent, Increasing, Predicts, plots
from instincts.cache import RunCache
from instincts.experiment import Experiment


def _experiment() -> Experiment:
    return Experiment(BUDGETS["smoke"], torch.device("cpu"), RunCache(None))


def _law(seed: int) -> dict[str, float]:
    return {"observed": 0.80 + 0.001 * (seed % 4), "predicted": 0.80 + 0.0015 * (seed % 3)}


def _time(base: float):
    def arm(seed: int) -> dict[str, float]:
        return {"seconds": base * (1.0 + 0.01 * (seed % 3))}
    return arm


def _left(fig: plt.Figure):
    return fig.axes[0]


def test_a_predicts_panel_draws_the_held_out_point_against_the_fit_and_its_band():
    exp = _experiment()
    exp.predicts(_law, observed="observed", predicted="predicted", expect=Predicts(tol=0.01), unit="pp")
    fig = plots.claim_figure(exp.records, "a law predicts")
    ax = _left(fig)
    assert ax.get_xlabel().startswith("predicted by the fit") and ax.get_ylabel().startswith("observed")
    labels = ax.get_legend_handles_labels()[1]
    assert "within ±1.0pp of the fit" in labels and "held-out point (one per seed)" in labels
    assert "±1.0pp" in ax.get_title(loc="left") and exp.records[0].verdict.outcome.value in ax.get_title(loc="left")
    plt.close(fig)


def test_a_timing_claims_panel_shows_per_repetition_ratios():
    exp = _experiment()
    exp.compare(_time(2.0), _time(1.0), metric="seconds", expect=Equivalent(margin=0.1), labels=("odd", "even"))
    fig = plots.claim_figure(exp.records, "timing", timing=True)
    ax = _left(fig)
    assert ax.get_ylabel() == "odd / even" and ax.get_xlabel().startswith("repetition")
    (ratios,) = [line for line in ax.get_lines() if len(line.get_ydata()) == 12]
    assert all(abs(r - 2.0) < 1e-9 for r in ratios.get_ydata())
    plt.close(fig)
    plain = plots.claim_figure(exp.records, "not timing")  # without timing: the paired per-seed lines
    assert _left(plain).get_ylabel() == "seconds"
    plt.close(plain)


def test_a_trend_panel_draws_one_line_per_seed():
    exp = _experiment()
    exp.trend({1: _time(1.0), 2: _time(2.0), 3: _time(3.0)}, metric="seconds", expect=Increasing())
    fig = plots.claim_figure(exp.records, "a trend")
    seeds = len(exp.records[0].seeds)
    assert len(_left(fig).get_lines()) == seeds + 1  # one per seed and the mean
    plt.close(fig)
