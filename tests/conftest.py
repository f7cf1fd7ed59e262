"""Fixtures and hooks for the engine's own tests.

``calibration_log`` records one line per measured rate (rejection rates, powers) in the test's
report (``user_properties``), so the lines travel from pytest-xdist workers to the controller;
``pytest_terminal_summary`` prints them all in a "calibration" section at the end of the run,
without ``-s`` and with ``-n``.

Tests marked ``slow`` (calibration with 20,000 simulations per null) are skipped unless the
``-m`` expression names them: ``pytest tests -m slow`` runs them, a plain ``pytest tests`` runs
the fast set only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).parent

CALIBRATION = "calibration"


@pytest.fixture
def calibration_log(record_property) -> Callable[[str], None]:
    """Call with one line ("Equivalent boundary null: SUPPORTED 4.9% (98/2000), ...") per measured rate.

    Log before asserting: the line then shows in the summary even when the assertion fails.
    """

    def log(line: str) -> None:
        record_property(CALIBRATION, line)

    return log


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="slow calibration (N=20000 per null): run with -m slow")
    for item in items:
        if item.get_closest_marker("slow") and HERE in item.path.parents:
            item.add_marker(skip)


def _calibration_lines(terminalreporter) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            status = "xfailed" if hasattr(report, "wasxfail") else report.outcome
            for name, value in getattr(report, "user_properties", ()):
                if name == CALIBRATION and (report.nodeid, value) not in seen:
                    seen.add((report.nodeid, value))
                    rows.append((report.nodeid, status, str(value)))
    return rows


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    rows = _calibration_lines(terminalreporter)
    if not rows:
        return
    terminalreporter.write_sep("=", f"calibration ({len(rows)} measured rates)")
    for _, status, line in sorted(rows, key=lambda row: row[0]):  # stable: a test's lines keep their order
        mark = "" if status == "passed" else f"[{status.upper()}] "
        terminalreporter.write_line(f"{mark}{line}")
