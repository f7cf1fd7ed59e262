"""Plots that answer a claim at a glance: paired per-seed data beside the effect, CI and margin."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from instincts import fmt  # noqa: E402

if TYPE_CHECKING:
    from instincts.experiment import Record

COLOURS = {"SUPPORTED": "#2e7d32", "REFUTED": "#c62828", "INCONCLUSIVE": "#ef6c00"}


def _scale(record: Record) -> tuple[float, str]:
    return (100.0, " (pp)") if record.verdict.unit == "pp" else (1.0, "")


def _predicts_panel(ax, record: Record) -> None:
    """A law's held-out point per seed: observed against what the fit predicted, with the ±tol band
    around the identity line where the law holds."""
    k, unit = _scale(record)
    values = np.asarray(record.values, dtype=float) * k
    predicted, observed = values[:, 1], values[:, 0]
    lo, hi = float(min(predicted.min(), observed.min())), float(max(predicted.max(), observed.max()))
    tol = getattr(record.verdict.expectation, "tol", None)
    pad = max((hi - lo) * 0.1, (tol or 0.0) * k, 1e-12)
    line = np.array([lo - pad, hi + pad])
    if tol is not None:
        shown = fmt.number(tol, record.verdict.unit, signed=False)
        ax.fill_between(line, line - tol * k, line + tol * k, color="#c8e6c9", alpha=0.7,
                        label=f"within ±{shown} of the fit")
    ax.plot(line, line, color="#555", lw=0.8, ls="--", label="observed = predicted")
    ax.scatter(predicted, observed, s=16, color="#263238", zorder=3, label="held-out point (one per seed)")
    ax.set_xlabel(f"predicted by the fit ({record.labels[1]}){unit}", fontsize=8)
    ax.set_ylabel(f"observed ({record.labels[0]}){unit}", fontsize=8)
    ax.legend(fontsize=7, loc="best")


def _ratio_panel(ax, record: Record) -> None:
    """A timing comparison per repetition: the ratio A / B of each paired repetition, 1 = equal."""
    values = np.asarray(record.values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = values[:, 0] / values[:, 1]
    ax.axhline(1.0, color="#999", lw=0.8)
    ax.plot(np.arange(len(ratios)), ratios, color="#263238", marker="o", ms=3, lw=0.8)
    ax.set_xlabel("repetition (paired, interleaved)", fontsize=8)
    ax.set_ylabel(f"{record.labels[0][:14]} / {record.labels[1][:14]}", fontsize=8)


def _data_panel(ax, record: Record, timing: bool = False) -> None:
    k, unit = _scale(record)
    values = np.asarray(record.values) * k
    x = np.arange(values.shape[1])
    if record.kind == "predicts" and values.shape[1] == 2:
        _predicts_panel(ax, record)
        return
    if timing and record.kind == "compare" and values.shape[1] == 2 and np.all(values > 0):
        _ratio_panel(ax, record)
        return
    if record.kind == "exact":
        ax.scatter(record.seeds, np.maximum(np.abs(values[:, 0]), 1e-300), s=14, color="#455a64")
        ax.set_yscale("log")
        ax.set_xlabel("seed")
        ax.set_ylabel("|error|")
        return
    for row in values:  # one line per seed joins its paired arms / levels
        ax.plot(x, row, color="#90a4ae", alpha=0.5, lw=0.8, marker="o", ms=2.5)
    ax.plot(x, values.mean(axis=0), color="#263238", lw=2.2, marker="o", label="mean")
    ax.set_xticks(x, [lab[:14] for lab in record.labels], fontsize=8)
    ax.set_ylabel(record.metric + unit)
    ax.set_xlim(-0.3, len(x) - 0.7)


def _effect_panel(ax, record: Record) -> None:
    v = record.verdict
    k, unit = _scale(record)
    colour = COLOURS[v.outcome.value]
    if record.kind == "exact":
        ax.axhline(v.effect, color=colour, lw=2, label="max |error|")
        tol = v.expectation.tol
        ax.axhline(tol, color="#555", ls="--", label=f"tol {tol:g}")
        ax.set_yscale("symlog", linthresh=1e-12)
        ax.legend(fontsize=7)
        ax.set_xticks([])
        return
    lo, hi = v.details.get("band", [None, None])
    ymin, ymax = (c * k for c in v.ci)
    span = [v.effect * k, ymin, ymax, 0.0] + [b * k for b in (lo, hi) if b is not None]
    pad = 0.25 * (max(span) - min(span) or 1.0)
    bottom, top = min(span) - pad, max(span) + pad
    ax.axhspan(lo * k if lo is not None else bottom, hi * k if hi is not None else top,
               color="#c8e6c9", alpha=0.6, label="claim holds")
    ax.axhline(0.0, color="#999", lw=0.8)
    ax.errorbar([0], [v.effect * k], yerr=[[v.effect * k - ymin], [ymax - v.effect * k]], fmt="o",
                color=colour, capsize=6, lw=2, label=f"{fmt.percent(v.confidence_level)} CI")
    ax.set_ylim(bottom, top)
    ax.set_xlim(-1, 1)
    ax.set_xticks([])
    ax.set_ylabel(f"{v.label}{unit}")
    ax.legend(fontsize=7, loc="best")


def claim_figure(records: Sequence[Record], title: str, timing: bool = False) -> plt.Figure:
    """One row per comparison, per-seed data on the left, the effect on the right. The data
    panel answers the comparison's question: paired per-seed lines (compare; trend: one line per seed
    over the levels), observed against predicted with the ±tol band (predicts), the per-repetition
    ratio (a ``timing`` claim's compare), |error| per seed (exact)."""
    rows = max(1, len(records))
    fig, axes = plt.subplots(rows, 2, figsize=(8, 2.6 * rows + 0.6), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 1]})
    for (left, right), record in zip(axes, records):
        _data_panel(left, record, timing)
        _effect_panel(right, record)
        cfg = ", ".join(f"{k}={v}" for k, v in record.config.items())
        left.set_title(f"{record.verdict.outcome.value} ({record.verdict.expected}): {cfg}"[:110], fontsize=8,
                       color=COLOURS[record.verdict.outcome.value], loc="left")
    fig.suptitle(_wrap(title, 90), fontsize=10)
    fig.tight_layout()
    return fig


def claim_plot(records: Sequence[Record], title: str, timing: bool = False) -> bytes:
    """``claim_figure`` as PNG bytes."""
    fig = claim_figure(records, title, timing)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    plt.close(fig)
    return buf.getvalue()


def _wrap(text: str, width: int) -> str:
    words, lines, line = text.split(), [], ""
    for w in words:
        if len(line) + len(w) + 1 > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "\n".join(lines[: max(1, math.ceil(len(text) / width))])


def history_plot(points: Sequence[dict], title: str, unit: str = "") -> bytes:
    """A PNG of a claim's effect over runs: one marker per run (coloured by verdict) with its CI."""
    k = 100.0 if unit == "pp" else 1.0
    fig, ax = plt.subplots(figsize=(6, 2.6))
    for i, p in enumerate(points):
        colour = COLOURS.get(p.get("verdict", ""), "#757575")
        effect, ci = p.get("effect"), p.get("ci")
        if effect is None:
            continue
        if ci and None not in ci:
            ax.plot([i, i], [ci[0] * k, ci[1] * k], color=colour, lw=2)
        ax.plot([i], [effect * k], marker="o", color=colour)
    ax.axhline(0.0, color="#999", lw=0.8)
    ax.set_xticks(range(len(points)), [str(p.get("written", ""))[:16] for p in points], fontsize=6, rotation=30,
                  ha="right")
    ax.set_xlim(-0.5, len(points) - 0.5)
    ax.set_ylabel(f"effect{' (pp)' if unit == 'pp' else ''}")
    ax.set_title(_wrap(title, 80), fontsize=8, loc="left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    plt.close(fig)
    return buf.getvalue()
