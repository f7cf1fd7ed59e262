"""Config strategies: the first (simplest) example is the middle of the range, draws span it."""

import math

import pytest
from hypothesis import Phase, given, settings

from instincts import InvalidArgument, log_floats, log_integers


def draws(strategy, n=60):
    seen = []

    @settings(max_examples=n, derandomize=True, database=None, phases=[Phase.generate])
    @given(strategy)
    def collect(x):
        seen.append(x)

    collect()
    return seen


def test_log_floats_start_at_the_geometric_middle_and_span_the_range():
    seen = draws(log_floats(1e-4, 1e-1))
    assert seen[0] == pytest.approx(math.sqrt(1e-4 * 1e-1), rel=0.02)
    assert all(1e-4 <= x <= 1e-1 for x in seen)
    assert min(seen) < 3e-4 and max(seen) > 3e-2  # both decades at the ends are reached
    assert all(float(f"{x:.2g}") == x for x in seen)
    assert len(set(seen[:4])) == 4  # the smoke budget's first draws differ (not the middle twice)


def test_log_integers_start_in_the_middle_and_span_the_range():
    seen = draws(log_integers(3, 255))
    assert seen[0] == round(math.sqrt(3 * 255))
    assert all(isinstance(x, int) and 3 <= x <= 255 for x in seen)
    assert min(seen) <= 6 and max(seen) >= 128
    assert len(set(seen[:4])) == 4


@pytest.mark.parametrize("call, message", [
    (lambda: log_floats(0, 1), "lo=0 is not allowed"),
    (lambda: log_floats(1, 1), "needs lo < hi"),
    (lambda: log_floats(1e-3, 1, digits=0), "digits=0"),
    (lambda: log_integers(1.5, 8), "lo=1.5"),
])
def test_bad_ranges_are_clear_errors(call, message):
    with pytest.raises(InvalidArgument, match=message):
        call()
