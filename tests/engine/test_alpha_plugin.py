"""The claim's alpha through the plugin, as hypothesis really runs it (issue 12, check a).

Simulated claims at their boundary null (arms of i.i.d. noise, ``Superior()``: mean difference 0)
run in an inner pytest session on the standard budget's hypothesis settings (6 examples, shrink
and explain on, sequential looks). Each claim fails its ``assert`` whenever it is not SUPPORTED,
so hypothesis shrinks and explains every INCONCLUSIVE and REFUTED claim: the REFUTED rate must
stay at most alpha (the 99.9% Clopper-Pearson lower bound of the measured rate <= alpha) and no
claim may run more comparisons than its budget plans (examples x comparisons per example).
Fast set: 50 claims per case; ``-m slow``: 1,000 per case.
"""

import json
from pathlib import Path

import pytest
import statsmodels.stats.weightstats  # noqa: F401 - loaded once (see test_plugin.py)
from hypothesis import settings
from scipy import stats as sps

import instincts.experiment  # noqa: F401 - loaded once
import instincts.plots  # noqa: F401 - loaded once

pytest_plugins = ["pytester"]

ALPHA = 0.05
STRATEGIES = {
    "width": "width=st.integers(1, 512)",
    # BS-1's strategy, as claims/test_batch_size.py draws it (test_bs1_strategy_is_the_claims checks)
    "bs1": "batch=log_integers(1, 127).map(lambda k: 2 * k + 1), lr=log_floats(3e-4, 1e-2)",
}

CLAIMS = '''
import numpy as np
from hypothesis import given, strategies as st
from instincts import Superior, claim, log_floats, log_integers


def noise(*key):
    return float(np.random.default_rng(list(key)).normal())


def null_claim(k):
    @claim("NULL", "i.i.d. arms: A superior to B", comparisons={comparisons})
    @given({strategy})
    def test(experiment, **config):
        tag = abs(hash(tuple(sorted(config.items())))) % 2**31
        verdicts = [experiment.compare(lambda s, j=j: noise(k, tag, j, 0, s), lambda s, j=j: noise(k, tag, j, 1, s),
                                       metric="value", expect=Superior(), config={{**config, "j": j}})
                    for j in range({comparisons})]
        assert all(verdicts)
    return test


# one function per claim, not @pytest.mark.parametrize: hypothesis's pytest plugin wraps a
# parametrized test's settings once per item, and ~950 items exceed the recursion limit
for k in range({n}):
    globals()[f"test_null_{{k}}"] = null_claim(k)
'''


@pytest.fixture(autouse=True)
def _restore_hypothesis_profile():
    name = settings.get_current_profile_name()
    yield
    settings.load_profile(name)


def run_null_claims(pytester: pytest.Pytester, strategy: str, comparisons: int, n: int) -> list[dict]:
    pytester.makepyfile(test_null=CLAIMS.format(strategy=STRATEGIES[strategy], comparisons=comparisons, n=n))
    pytester.runpytest_inprocess("--budget", "standard", "--no-claims-cache", "--claims-json", "c.json",
                                 "--claims-seed-base", "7", "-q", "-p", "no:randomly")
    claims = json.loads((pytester.path / "c.json").read_text())["claims"]
    assert len(claims) == n, [c.get("error") for c in claims if c["verdict"] == "ERROR"][:3]
    return claims


def check_null_claims(claims: list[dict], strategy: str, comparisons: int, log) -> None:
    n = len(claims)
    refuted = sum(c["verdict"] == "REFUTED" for c in claims)
    ran = [c["comparisons"] for c in claims]
    planned = {c["comparisons_planned"] for c in claims}
    spent = max(c["alpha_spent"] for c in claims)
    low = sps.binomtest(refuted, n).proportion_ci(0.999).low
    log(f"{n} null claims ({strategy}), {comparisons} comparison(s)/example: REFUTED {refuted}/{n} = {refuted / n:.2%} "
        f"(99.9% CI from {low:.2%}), comparisons/claim mean {sum(ran) / n:.2f} max {max(ran)} planned "
        f"{planned}, largest alpha spent {spent:.4f}")
    assert planned == {6 * comparisons}
    assert max(ran) <= 6 * comparisons
    assert spent <= ALPHA + 1e-12
    assert low <= ALPHA


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("comparisons", [1, 2])
def test_null_claims_refute_at_most_alpha(pytester, strategy, comparisons, calibration_log):
    claims = run_null_claims(pytester, strategy, comparisons, n=50)
    check_null_claims(claims, strategy, comparisons, calibration_log)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("comparisons", [1, 2])
def test_null_claims_refute_at_most_alpha_slow(pytester, strategy, comparisons, calibration_log):
    claims = run_null_claims(pytester, strategy, comparisons, n=1000)
    check_null_claims(claims, strategy, comparisons, calibration_log)


def test_bs1_strategy_is_the_claims():
    """The strategy above is BS-1's, read from its claim module (tests import no claim module)."""
    source = (Path(__file__).parents[2] / "claims" / "test_batch_size.py").read_text()
    assert f"@given({STRATEGIES['bs1']})" in source


def test_parts_record_their_alphas(pytester):
    """claims.json: each part's alpha (supporting side, the claim's) and alpha_refute (its share),
    the claim's alpha_spent their sum over distinct comparisons, and the seed base."""
    claims = run_null_claims(pytester, "width", 2, n=3)
    for c in claims:
        parts = c["parts"]
        assert all(p["alpha"] == ALPHA for p in parts)
        assert all(p["alpha_refute"] == pytest.approx(ALPHA * 0.9 / 12) for p in parts if p["slot"] == "planned")
        assert c["alpha_spent"] == pytest.approx(sum(p["alpha_refute"] for p in parts))
        assert c["seed_base"] == 7 and all(p["seeds"][0] == 7 for p in parts)

