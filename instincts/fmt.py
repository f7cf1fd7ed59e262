"""Numbers as people read them in verdict lines, tables and plots: one formatter for all of them.

``unit="pp"`` shows fractions (accuracies) as percentage points; other units are appended as given.
"""

from __future__ import annotations

import math


def number(value: float | None, unit: str = "", signed: bool = True) -> str:
    """A metric value in its display unit: "+1.2pp", "-0.012", "+3.4e-05"; "-" when absent, "nan" when NaN."""
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if unit == "pp":
        value *= 100.0
    sign = "+" if signed else ""
    magnitude = abs(value)
    if unit != "pp" and 0 < magnitude < 0.01:
        return f"{value:{sign}.3g}{unit}"
    return f"{value:{sign}.{1 if unit == 'pp' else 3}f}{unit}"


def short(value: float) -> str:
    """A number to three significant digits, no sign or unit: "11.5", "0.123", "1e-07"."""
    return f"{value:.3g}"


def interval(low: float, high: float, unit: str = "") -> str:
    """A confidence interval in the unit's scale, the unit left to the effect beside it: "[-0.3, +0.7]"."""
    lo, hi = (number(v, unit).removesuffix(unit) if unit else number(v) for v in (low, high))
    return f"[{lo}, {hi}]"


def percent(level: float) -> str:
    """A confidence level with enough decimals to tell it from 100%: "90%", "99.98%"."""
    tail = 100.0 * (1.0 - level)
    digits = 0 if tail >= 1.0 or tail <= 0.0 else math.ceil(-math.log10(tail) - 1e-9)
    return f"{level:.{digits}%}"


def pvalue(p: float) -> str:
    """The p-value as "p=0.004", or as "p<1e-4" below what a handful of seeds can resolve."""
    return "p<1e-4" if p < 1e-4 else f"p={p:.2g}"


def ratio(value: float) -> str:
    """A unitless ratio such as d_z: two decimals below 10 ("0.91", "-2.35"), whole above ("14"), "nan"."""
    if math.isnan(value):
        return "nan"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"


def share(value: float) -> str:
    """A probability to two significant digits: "0.81", "0.5", "1"."""
    return "nan" if math.isnan(value) else f"{value:.2g}"


def share_interval(low: float, high: float) -> str:
    """An interval of probabilities: "[0.6, 0.93]"."""
    return f"[{share(low)}, {share(high)}]"


def labelled_interval(low: float, high: float, level: float, unit: str = "") -> str:
    """A confidence interval with its level, in the unit's scale: "90% CI [-0.1, +0.4]"."""
    return f"{percent(level)} CI {interval(low, high, unit)}"


_FACT_NAMES = {"epochs_run": "epochs", "train_accuracy": "train acc", "best_val_accuracy": "val acc",
               "train_loss": "train loss", "cap_hit": "cap hit"}


def training_facts(facts: dict[str, dict[str, float]]) -> str:
    """Arms' training facts in one short line, arms joined by "/": "epochs 33/33, train acc 99.1%/99.1%"."""
    arms = list(facts.values())
    out = []
    for name, short_name in _FACT_NAMES.items():
        values = [arm[name] for arm in arms if name in arm]
        if not values:
            continue
        shown = [f"{100 * v:.1f}%" if name.endswith("accuracy") else short(v) for v in values]
        out.append(f"{short_name} {'/'.join(shown)}")
    return ", ".join(out)
