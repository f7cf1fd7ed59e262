"""Replicable runs (issue 12, item 9): seeds are base + 0..n-1; smoke fixes the base, standard
draws and records it, and --claims-seed-base replays a run (its seeds and its hypothesis draws)."""

import json

import pytest
import statsmodels.stats.weightstats  # noqa: F401 - loaded once (see test_plugin.py)
from hypothesis import settings

import instincts.experiment  # noqa: F401 - loaded once
import instincts.plots  # noqa: F401 - loaded once

pytest_plugins = ["pytester"]

CLAIM = '''
import numpy as np
from hypothesis import given, strategies as st
from instincts import Superior, claim


@claim("R-1", "a wider model scores more")
@given(width=st.integers(1, 10**6))
def test_replay(experiment, width):
    def score(seed, w):
        return float(np.random.default_rng([seed, w]).normal()) + 0.01 * (w % 7)
    experiment.compare(lambda s: score(s, width + 1), lambda s: score(s, width), metric="value",
                       expect=Superior(), config={"width": width})
'''


@pytest.fixture(autouse=True)
def _restore_hypothesis_profile():
    name = settings.get_current_profile_name()
    yield
    settings.load_profile(name)


def run(pytester: pytest.Pytester, *args: str) -> tuple[dict, dict]:
    pytester.makepyfile(test_replay=CLAIM)
    pytester.runpytest_inprocess("--no-claims-cache", "--claims-json", "c.json", *args)
    doc = json.loads((pytester.path / "c.json").read_text())
    return doc["meta"], doc["claims"][0]


def draws(claim: dict) -> list[tuple]:
    return [(p["config"]["width"], p["seeds"][0], p["effect"]) for p in claim["parts"]]


def test_smoke_fixes_the_base(pytester):
    meta, first = run(pytester)
    _, second = run(pytester)
    assert meta["seed_base"] == 0 and first["seed_base"] == 0
    assert draws(first) == draws(second)
    assert all(p["seeds"] == list(range(12)) for p in first["parts"])


def test_standard_draws_a_base_and_the_option_replays_it(pytester):
    meta, first = run(pytester, "--budget", "standard")
    base = meta["seed_base"]
    assert isinstance(base, int) and first["seed_base"] == base
    assert all(p["seeds"][0] == base for p in first["parts"])
    _, replay = run(pytester, "--budget", "standard", "--claims-seed-base", str(base))
    assert draws(replay) == draws(first)
    _, other = run(pytester, "--budget", "standard", "--claims-seed-base", str(base + 1))
    assert draws(other) != draws(first)


@pytest.mark.parametrize("value", ["-1", "x", str(2**31)])
def test_a_bad_seed_base_is_a_usage_error(pytester, value):
    pytester.makepyfile(test_replay=CLAIM)
    result = pytester.runpytest_inprocess("--claims-seed-base", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--claims-seed-base*{value!r} is not allowed: give an integer from 0*"])
