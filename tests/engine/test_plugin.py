"""The pytest plugin, end to end: a user's claim file, verdict outcomes, claims.json, budgets,
Allure results, xdist, the run cache across sessions, and alpha split over hypothesis examples.

Inner sessions run in-process (fast) where the only global state they touch is the hypothesis
profile, which ``_restore_hypothesis_profile`` puts back; Allure (a process-wide listener) and
xdist run in a subprocess.
"""

import json
from pathlib import Path

# The plugin imports torch, scipy, statsmodels and matplotlib only once a claim runs, so the first
# in-process inner session would import them and pytester would drop them from sys.modules after it:
# the next session would load numpy's and torch's extension modules a second time, which they refuse.
# The imports marked "loaded once" load them here, in the outer session.
import pytest
import statsmodels.stats.weightstats  # noqa: F401 - loaded once
from hypothesis import settings

import instincts.experiment  # noqa: F401 - loaded once: torch, numpy, scipy
import instincts.plots  # noqa: F401 - loaded once: matplotlib

pytest_plugins = ["pytester"]

CLAIMS = '''
import numpy as np
from instincts import Equivalent, Superior, claim


def noise(seed):
    return float(np.random.default_rng(seed).normal())


def jitter(seed):
    """Noise of its own: arms that differ by an exact constant have zero spread (INCONCLUSIVE)."""
    return float(np.random.default_rng(seed + 7777).normal())


@claim("U-1", "identical arms are equivalent", section="User", question="Are twins equal?",
       anchors=["folklore"])
def test_equivalent(experiment):
    assert experiment.compare(noise, lambda s: noise(s) + 0.01 * jitter(s), metric="value",
                              expect=Equivalent(margin=0.1))


@claim("U-2", "a planted difference is superior", section="User", question="Does a shift show?")
def test_superior(experiment):
    def shifted(seed):
        return noise(seed) + 0.5 + 0.3 * float(np.random.default_rng(seed + 99).normal())
    assert experiment.compare(shifted, noise, metric="value", expect=Superior(), config={"shift": 0.5})


@claim("U-3", "independent noise is superior")
def test_inconclusive(experiment):
    def other(seed):
        return float(np.random.default_rng(seed + 1000).normal())
    assert experiment.compare(other, noise, metric="value", expect=Superior())


@claim("U-4", "a worse arm is superior")
def test_refuted(experiment):
    assert experiment.compare(lambda s: noise(s) - 1 + 0.2 * jitter(s), noise, metric="value", expect=Superior())


@claim("U-5", "a worse arm is superior (no assert)")
def test_refuted_no_assert(experiment):
    experiment.compare(lambda s: noise(s) - 1 + 0.2 * jitter(s), noise, metric="value", expect=Superior())


@claim("U-6", "independent noise is superior (no assert)")
def test_inconclusive_no_assert(experiment):
    def other(seed):
        return float(np.random.default_rng(seed + 1000).normal())
    experiment.compare(other, noise, metric="value", expect=Superior())
'''

EXPECTED = {"U-1": "SUPPORTED", "U-2": "SUPPORTED", "U-3": "INCONCLUSIVE", "U-4": "REFUTED",
            "U-5": "REFUTED", "U-6": "INCONCLUSIVE"}
FIELDS = ("id", "statement", "section", "verdict", "effect", "ci", "p", "n", "seeds_used", "budget",
          "device", "duration_s", "versions")


@pytest.fixture(autouse=True)
def _restore_hypothesis_profile():
    """An in-process inner session loads its budget's hypothesis profile; put ours back."""
    name = settings.get_current_profile_name()
    yield
    settings.load_profile(name)


def claims_of(path: Path) -> dict[str, dict]:
    doc = json.loads(path.read_text())
    return {c["id"]: c for c in doc["claims"]}


def allure_results(alluredir: Path) -> dict[str, dict]:
    """Allure results by claim id (the story label)."""
    out = {}
    for path in alluredir.glob("*-result.json"):
        result = json.loads(path.read_text())
        labels = {label["name"]: label["value"] for label in result["labels"]}
        out[labels.get("story", result["name"])] = result
    return out


def test_verdicts_become_test_outcomes(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=CLAIMS)
    result = pytester.runpytest_inprocess("--claims-json", "claims.json")
    assert result.parseoutcomes() == {"passed": 2, "failed": 2, "inconclusive": 2}
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    # a REFUTED assert fails with the verdict; an unasserted REFUTED verdict fails by the plugin
    result.stdout.fnmatch_lines(["*AssertionError: assert <Verdict REFUTED — A superior to B by > 0.000: diff -1.086*",
                                 "*claim U-5 REFUTED — A superior to B by > 0.000: diff -1.086, 90% CI*"])
    assert "FAILED test_user.py::test_refuted_no_assert - claim U-5 REFUTED" in out
    # the terminal summary lists every claim with its verdict line
    result.stdout.fnmatch_lines(["*claims (smoke budget, cpu)*", "U-1 * SUPPORTED *identical arms are equivalent",
                                 "*equivalent within*",
                                 "U-3 * INCONCLUSIVE *", "*inconclusive: 2  refuted: 2  supported: 2*"])
    claims = claims_of(pytester.path / "claims.json")
    assert {k: c["verdict"] for k, c in claims.items()} == EXPECTED


def test_inconclusive_is_its_own_outcome_and_fails_when_strict(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=CLAIMS)
    result = pytester.runpytest_inprocess("-k", "inconclusive")
    assert result.ret == pytest.ExitCode.OK
    assert result.parseoutcomes() == {"inconclusive": 2, "deselected": 4}
    result.stdout.fnmatch_lines(["test_user.py II*", "U-3 * INCONCLUSIVE *independent noise is superior",
                                 "* A superior to B by > 0.000: *, p=0.65; sd *, d_z *, P(A>B) *; "
                                 "could detect >= * (80% power), ~* seeds to decide",
                                 "*4 deselected, 2 inconclusive in*"])

    strict = pytester.runpytest_inprocess("-k", "inconclusive", "--claims-strict")
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    assert strict.parseoutcomes() == {"failed": 2, "deselected": 4}
    strict.stdout.fnmatch_lines(["*claim U-6 INCONCLUSIVE (--claims-strict) — A superior to B*"])


def test_claims_json_fields(pytester: pytest.Pytester, tmp_path: Path):
    pytester.makepyfile(test_user=CLAIMS)
    target = tmp_path / "deep" / "claims.json"
    pytester.runpytest_inprocess("--claims-json", str(target))
    doc = json.loads(target.read_text())
    assert doc["meta"]["budget"] == "smoke" and doc["meta"]["device"] == "cpu"
    assert "torch" in doc["meta"]["environment"]
    claims = {c["id"]: c for c in doc["claims"]}
    assert list(claims) == sorted(EXPECTED)
    for cid, c in claims.items():
        missing = [f for f in FIELDS if f not in c]
        assert not missing, f"{cid} lacks {missing}"
        assert c["verdict"] == EXPECTED[cid]
        assert c["n"] == 12 and c["seeds_used"] == 12 and c["budget"] == "smoke" and c["device"] == "cpu"
        assert len(c["ci"]) == 2 and c["ci"][0] <= c["effect"] <= c["ci"][1]
        assert set(c["versions"]) >= {"instincts", "torch"} and c["duration_s"] >= 0
    assert claims["U-1"]["statement"] == "identical arms are equivalent"
    assert claims["U-1"]["section"] == "User" and claims["U-1"]["anchors"] == ["folklore"]
    assert abs(claims["U-1"]["effect"]) < 0.01
    assert claims["U-2"]["effect"] > 0.3 and claims["U-2"]["p"] < 0.05
    assert claims["U-4"]["effect"] == pytest.approx(-1.0, abs=0.2)


def test_an_arm_that_raises_is_an_error_in_claims_json(pytester: pytest.Pytester):
    pytester.makepyfile(test_bad='''
        from instincts import Superior, claim

        @claim("B-1", "a claim with a broken arm")
        def test_bad(experiment):
            experiment.compare(42, lambda s: 0.0, metric="value", expect=Superior())
    ''')
    result = pytester.runpytest_inprocess("--claims-json", "c.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*TypeError: arm_a=42 is neither a config*"])
    c = claims_of(pytester.path / "c.json")["B-1"]
    assert c["verdict"] == "ERROR" and "arm_a=42" in c["error"]


def test_unknown_budget_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=CLAIMS)
    result = pytester.runpytest_inprocess("--claims-budget", "bogus")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown budget 'bogus': choose one of smoke, standard, full*"])


def test_standard_budget_uses_more_seeds(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=CLAIMS)
    # standard draws its seed base per run: pin it, so the seeds (and where a look stops) are fixed
    result = pytester.runpytest_inprocess("--claims-budget", "standard", "-k", "test_equivalent or test_superior",
                                          "--claims-json", "c.json", "--claims-seed-base", "0")
    result.assert_outcomes(passed=2, deselected=4)
    result.stdout.fnmatch_lines(["*claims (standard budget, cpu)*"])
    claims = claims_of(pytester.path / "c.json")
    # standard plans 3 looks over 24 seeds: on seeds 0..23 the clear U-2 stops at look 1 (8 seeds), and
    # so does U-1, whose arms differ by a hundredth of the margin's scale
    assert {c["id"]: c["n"] for c in claims.values()} == {"U-1": 8, "U-2": 8}
    assert {c["id"]: c["seeds_max"] for c in claims.values()} == {"U-1": 24, "U-2": 24}
    assert all("of 24 (look" in c["line"] for c in claims.values())
    assert {c["budget"] for c in claims.values()} == {"standard"}


def check_allure(alluredir: Path) -> None:
    results = allure_results(alluredir)
    assert set(results) == set(EXPECTED)
    statuses = {cid: r["status"] for cid, r in results.items()}
    assert statuses == {"U-1": "passed", "U-2": "passed", "U-3": "skipped", "U-4": "failed",
                        "U-5": "failed", "U-6": "skipped"}
    r = results["U-2"]
    assert r["name"] == "a planted difference is superior"
    labels = {(label["name"], label["value"]) for label in r["labels"]}
    assert {("epic", "User"), ("feature", "Does a shift show?"), ("story", "U-2"), ("tag", "supported")} <= labels
    params = {p["name"]: p for p in r["parameters"]}
    assert params["config 1"]["value"] == "'shift=0.5'" and not params["config 1"].get("excluded")
    for name in ("verdict", "effect", "ci", "p", "n"):
        assert params[name]["excluded"] is True, name
    assert params["verdict"]["value"] == "'SUPPORTED'"
    assert "**U-2**" in r["description"]
    types = sorted(a["type"] for a in r["attachments"])
    assert types == ["application/json", "image/png", "text/csv"]
    files = {a["type"]: alluredir / a["source"] for a in r["attachments"]}
    assert files["image/png"].read_bytes().startswith(b"\x89PNG")
    assert files["text/csv"].read_text().splitlines()[0] == "comparison,config,metric,seed,column,value"
    verdict = json.loads(files["application/json"].read_text())
    assert verdict["verdict"] == "SUPPORTED" and len(verdict["records"][0]["values"]) == 12
    env = (alluredir / "environment.properties").read_text()
    assert "budget=smoke" in env and "torch=" in env


def test_allure_results(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=CLAIMS)
    alluredir = pytester.path / "allure"
    alluredir.mkdir()
    (alluredir / "old-result.json").write_text("{}")  # a previous run's result is cleared
    result = pytester.runpytest_subprocess("--alluredir", str(alluredir), "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert not (alluredir / "old-result.json").exists()
    check_allure(alluredir)


def test_xdist_workers_report_to_the_controller(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=CLAIMS)
    alluredir = pytester.path / "allure"
    result = pytester.runpytest_subprocess("-n", "2", "--claims-json", "c.json", "--alluredir", str(alluredir),
                                           "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.parseoutcomes() == {"passed": 2, "failed": 2, "inconclusive": 2}
    result.stdout.fnmatch_lines(["*claims (smoke budget, cpu)*", "*inconclusive: 2  refuted: 2  supported: 2*"])
    claims = claims_of(pytester.path / "c.json")
    assert {k: c["verdict"] for k, c in claims.items()} == EXPECTED
    assert all(c["n"] == 12 for c in claims.values())
    check_allure(alluredir)


COUNTED = '''
import numpy as np
import torch
from pathlib import Path
from instincts import Superior, claim

LOG = Path(__file__).with_name("calls.log")


def noisy(seed, shift):
    value = float(torch.randn(()).item() + np.random.normal()) + shift  # seeded by the engine
    value += shift * 0.2 * float(np.random.default_rng([seed, 99]).normal())  # arm-specific: some spread
    with LOG.open("a") as fh:
        fh.write(f"{seed} {shift} {value!r}\\n")
    return value


@claim("C-1", "a shifted arm is superior")
def test_counted(experiment):
    assert experiment.compare(lambda s: noisy(s, 1.0), lambda s: noisy(s, 0.0), metric="value",
                              expect=Superior())
'''


def test_same_run_twice_is_identical_and_cached(pytester: pytest.Pytester):
    pytester.makepyfile(test_counted=COUNTED)
    log = pytester.path / "calls.log"

    def run(*args: str) -> dict:
        result = pytester.runpytest_inprocess("--claims-json", "c.json", *args)
        result.assert_outcomes(passed=1)
        claim = claims_of(pytester.path / "c.json")["C-1"]
        return {k: claim[k] for k in ("verdict", "effect", "ci", "p", "n")}

    first = run()
    calls = log.read_text().splitlines()
    assert len(calls) == 24  # two arms x 12 seeds
    assert list((pytester.path / ".instincts-cache").rglob("*.json"))

    second = run()
    assert second == first
    assert log.read_text().splitlines() == calls, "the second run should come from the disk cache"

    third = run("--claims-no-cache")
    assert third == first
    recomputed = log.read_text().splitlines()[24:]
    assert recomputed == calls, "recomputing gives the same per-seed numbers"


GIVEN = '''
import numpy as np
from hypothesis import given, settings, strategies as st
from instincts import Superior, claim


def train(seed, batch):
    own = float(np.random.default_rng([seed, batch]).normal())  # per batch: the differences have spread
    return float(np.random.default_rng(seed).normal()) + batch + 0.1 * own


@claim("H-1", "a bigger batch scores more")
@given(batch=st.sampled_from([1, 2, 3]))
def test_profile_examples(experiment, batch):
    # two lambdas of one scope over the same `batch`: their cache identities must differ
    assert experiment.compare(lambda s: train(s, batch + 1), lambda s: train(s, batch), metric="value",
                              expect=Superior(), config={"batch": batch})


@claim("H-2", "a bigger batch scores more, four examples")
@settings(max_examples=4)
@given(batch=st.integers(1, 50))
def test_four_examples(experiment, batch):
    assert experiment.compare(lambda s: train(s, batch + 1), lambda s: train(s, batch), metric="value",
                              expect=Superior(), config={"batch": batch})
'''


def test_hypothesis_examples_split_alpha(pytester: pytest.Pytester):
    pytester.makepyfile(test_given=GIVEN)
    result = pytester.runpytest_inprocess("--claims-json", "c.json")
    result.assert_outcomes(passed=2)
    claims = claims_of(pytester.path / "c.json")
    # SUPPORTED needs every part at the full alpha; REFUTED shares 90% of it over the planned examples
    assert claims["H-1"]["comparisons_planned"] == 2  # smoke: max_examples=2
    assert claims["H-2"]["comparisons_planned"] == 4
    for c in claims.values():
        k = c["comparisons_planned"]
        assert all(p["alpha"] == 0.05 and p["alpha_refute"] == pytest.approx(0.045 / k) for p in c["parts"])
        assert c["alpha_spent"] == pytest.approx(0.045 / k * c["comparisons"])
        assert c["verdict"] == "SUPPORTED" and c["effect"] == pytest.approx(1.0, abs=0.1)
        assert c["comparisons"] == len(c["parts"]) >= 2
        assert c["seeds_used"] == 12 * c["comparisons"]
        assert len({json.dumps(p["config"]) for p in c["parts"]}) == c["comparisons"]
        assert all(p["verdict"] == "SUPPORTED" for p in c["parts"])


EVERY_PART = '''
import numpy as np
from hypothesis import given, strategies as st
from instincts import Superior, claim


def noise(seed):
    return float(np.random.default_rng(seed).normal())


def jitter(seed):
    return float(np.random.default_rng(seed + 7777).normal())


@claim("P-1", "every shift is superior (a loop, no config=)")
def test_loop(experiment):
    for shift in (-1.0, 1.0):
        experiment.compare(lambda s: noise(s) + shift + 0.2 * jitter(s), noise, metric="value", expect=Superior())


@claim("P-2", "every shift is superior (examples, no config=, no assert)")
@given(shift=st.sampled_from([-1.0, 1.0]))
def test_examples(experiment, shift):
    experiment.compare(lambda s: noise(s) + shift + 0.2 * jitter(s), noise, metric="value", expect=Superior())


@claim("P-3", "every shift is superior (examples, asserted)")
@given(shift=st.sampled_from([1.0, -1.0]))
def test_asserted(experiment, shift):
    assert experiment.compare(lambda s: noise(s) + shift + 0.2 * jitter(s), noise, metric="value", expect=Superior())
'''


def test_every_comparison_counts(pytester: pytest.Pytester):
    """Comparisons that look alike (a callable's name, no config=) are separate parts of the claim;
    only hypothesis's replay of the failing example is the same comparison again."""
    pytester.makepyfile(test_parts=EVERY_PART)
    result = pytester.runpytest_inprocess("--claims-json", "c.json")
    result.assert_outcomes(failed=3)
    claims = claims_of(pytester.path / "c.json")
    for c in claims.values():
        assert c["verdict"] == "REFUTED" and c["effect"] == pytest.approx(-1.0, abs=0.2)
        assert c["comparisons"] == 2 and c["seeds_used"] == 24
        assert sorted(p["verdict"] for p in c["parts"]) == ["REFUTED", "SUPPORTED"]


def test_a_refuted_claim_the_baseline_records_is_a_known_finding(pytester: pytest.Pytester):
    """CI gates on regressions: a REFUTED verdict already on record is xfail, a new one fails."""
    pytester.makepyfile(test_user=CLAIMS)
    pytester.runpytest_inprocess("--claims-json", "base.json")
    base = json.loads((pytester.path / "base.json").read_text())
    base["claims"] = [c for c in base["claims"] if c["id"] != "U-5"]  # U-5's refutation is new
    (pytester.path / "base.json").write_text(json.dumps(base))
    result = pytester.runpytest_inprocess("--claims-json", "now.json", "--claims-baseline", "base.json")
    assert result.parseoutcomes() == {"passed": 2, "failed": 1, "xfailed": 1, "inconclusive": 2}
    result.stdout.fnmatch_lines(["U-4 * REFUTED *a worse arm is superior", "*(known finding) A superior to B*"])
    assert "FAILED test_user.py::test_refuted_no_assert - claim U-5 REFUTED" in result.stdout.str()
    claims = claims_of(pytester.path / "now.json")
    assert claims["U-4"]["verdict"] == "REFUTED" and claims["U-4"]["known_finding"]
    assert "known_finding" not in claims["U-5"]


def test_a_bad_baseline_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=CLAIMS)
    result = pytester.runpytest_inprocess("--claims-baseline", "missing.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claims-baseline: baseline file missing.json not found*"])


def test_a_failed_assert_beside_supported_verdicts_is_an_error(pytester: pytest.Pytester):
    """claims.json must not say SUPPORTED for a test that failed."""
    pytester.makepyfile(test_mixed='''
        import numpy as np
        from instincts import Equivalent, claim

        @claim("M-1", "twins are equivalent, and a user check fails")
        def test_mixed(experiment):
            assert experiment.compare(lambda s: 0.01 * np.random.default_rng(s).normal(), lambda s: 1e-3 * s,
                                      metric="value", expect=Equivalent(margin=0.1))
            assert 1 + 1 == 3, "the user's own check"
    ''')
    result = pytester.runpytest_inprocess("--claims-json", "c.json")
    assert result.parseoutcomes() == {"failed": 1}
    c = claims_of(pytester.path / "c.json")["M-1"]
    assert c["verdict"] == "ERROR" and "the user's own check" in c["error"]


def test_k_selects_a_claim_by_its_catalogue_id(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=CLAIMS)
    result = pytester.runpytest_inprocess("-k", "U-2 or U-4", "--claims-json", "c.json")
    assert result.parseoutcomes() == {"passed": 1, "failed": 1, "deselected": 4}
    assert set(claims_of(pytester.path / "c.json")) == {"U-2", "U-4"}


TIMED = '''
from instincts import Superior, claim


@claim("T-1", "a timed thing is quick", timing=True)
def test_timed(experiment):
    assert experiment.compare(lambda s: 1.0 + s / 100, lambda s: 0.5, metric="value", expect=Superior())
'''


def test_timing_claims_are_marked_and_a_second_session_merges(pytester: pytest.Pytester):
    """`-m "not timing" -n 2` then `-m timing --claims-merge`: one claims.json with both."""
    pytester.makepyfile(test_user=CLAIMS, test_timed=TIMED)
    first = pytester.runpytest_inprocess("-m", "not timing", "--claims-json", "c.json")
    assert first.parseoutcomes()["deselected"] == 1
    assert "T-1" not in claims_of(pytester.path / "c.json")
    second = pytester.runpytest_inprocess("-m", "timing", "--claims-json", "c.json", "--claims-merge")
    assert second.parseoutcomes() == {"passed": 1, "deselected": 6}
    claims = claims_of(pytester.path / "c.json")
    assert set(claims) == set(EXPECTED) | {"T-1"} and claims["T-1"]["timing"] is True
    bad = json.loads((pytester.path / "c.json").read_text())
    bad["meta"]["budget"] = "full"
    (pytester.path / "c.json").write_text(json.dumps(bad))
    third = pytester.runpytest_inprocess("-m", "timing", "--claims-json", "c.json", "--claims-merge")
    third.stderr.fnmatch_lines(["*--claims-merge: * holds a 'full' run and this is a 'smoke' run*"])


def test_a_refuted_timing_claim_is_reported_not_gated(pytester: pytest.Pytester):
    """Wall-clock verdicts belong to the machine: with a baseline, a refuted timing claim is xfail."""
    pytester.makepyfile(test_timed=TIMED.replace("lambda s: 1.0 + s / 100, lambda s: 0.5",
                                                 "lambda s: 0.5, lambda s: 1.0 + s / 100"))
    plain = pytester.runpytest_inprocess("--claims-json", "c.json")
    assert plain.parseoutcomes() == {"failed": 1}  # without a baseline a refutation fails, timing or not
    base = json.loads((pytester.path / "c.json").read_text())
    base["claims"][0]["verdict"] = "SUPPORTED"  # the baseline machine found it holds
    (pytester.path / "base.json").write_text(json.dumps(base))
    gated = pytester.runpytest_inprocess("--claims-json", "c.json", "--claims-baseline", "base.json", "-rx")
    assert gated.parseoutcomes() == {"xfailed": 1}
    gated.stdout.fnmatch_lines(["XFAIL *test_timed* - timing claim, machine-dependent: reported, not gated*"])


def test_refutations_reported_as_xfail_show_as_failed_in_allure(tmp_path: Path):
    """Allure results are matched to claims.json entries by their nodeid label, not by message text."""
    from instincts.report import NODEID_LABEL, show_refutations_as_failed
    from instincts.results import ClaimResult

    def result(name, status, message, tag):
        doc = {"name": name, "status": status, "statusDetails": {"message": message, "trace": "AssertionError"},
               "labels": [{"name": "story", "value": name}, {"name": "tag", "value": tag},
                          {"name": NODEID_LABEL, "value": f"t.py::{name}"}]}
        (tmp_path / f"{name}-result.json").write_text(json.dumps(doc))

    result("known", "skipped", "XFAIL whatever pytest wrote", "refuted")
    result("inconclusive", "skipped", "INCONCLUSIVE — diff +0.1pp", "inconclusive")
    result("other-xfail", "skipped", "XFAIL a user's own xfail", "supported")
    claims = [ClaimResult(id="K", nodeid="t.py::known", verdict="REFUTED", line="diff -1.0pp", known_finding=True,
                          xfail_reason="known finding, REFUTED in the baseline too"),
              ClaimResult(id="I", nodeid="t.py::inconclusive", verdict="INCONCLUSIVE", line="diff +0.1pp")]
    assert show_refutations_as_failed(tmp_path, claims) == 1
    known = json.loads((tmp_path / "known-result.json").read_text())
    assert known["status"] == "failed" and known["statusDetails"]["trace"] == "AssertionError"
    assert known["statusDetails"]["message"] == (
        "REFUTED (known finding, REFUTED in the baseline too; xfail in pytest) — diff -1.0pp")
    for name in ("inconclusive", "other-xfail"):
        assert json.loads((tmp_path / f"{name}-result.json").read_text())["status"] == "skipped"


def test_an_asserted_inconclusive_verdict_is_inconclusive_whatever_the_message(pytester: pytest.Pytester):
    """The plugin asks the experiment whether the verdict was asserted; it does not read the exception text."""
    pytester.makepyfile(test_messages='''
        import numpy as np
        from instincts import Superior, claim


        def noise(seed):
            return float(np.random.default_rng(seed).normal())


        def other(seed):
            return float(np.random.default_rng(seed + 1000).normal())


        @claim("I-1", "an asserted verdict with a message of the user's")
        def test_own_message(experiment):
            verdict = experiment.compare(other, noise, metric="value", expect=Superior())
            assert verdict, "no evidence either way"


        @claim("I-2", "an inconclusive verdict, then another assertion fails")
        def test_other_assert(experiment):
            experiment.compare(other, noise, metric="value", expect=Superior())
            assert 1 + 1 == 3, "the user's own check"
    ''')
    result = pytester.runpytest_inprocess("--claims-json", "c.json")
    assert result.parseoutcomes() == {"inconclusive": 1, "failed": 1}
    result.stdout.fnmatch_lines(["*FAILED test_messages.py::test_other_assert - AssertionError: the user*"])


def test_a_claim_attaches_evidence_without_importing_allure(pytester: pytest.Pytester):
    pytester.makepyfile(test_attach='''
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
        from instincts import Equivalent, claim


        @claim("A-1", "twins are equivalent, with evidence attached")
        def test_attached(experiment):
            fig, ax = plt.subplots()
            ax.plot([0, 1])
            experiment.attach("a curve", fig)
            experiment.attach("a table", [{"seed": 0, "loss": 0.5}])
            assert experiment.compare(lambda s: 0.01 * np.random.default_rng(s).normal(), lambda s: 1e-3 * s,
                                      metric="value", expect=Equivalent(margin=0.1))
    ''')
    alluredir = pytester.path / "allure"
    result = pytester.runpytest_subprocess("--alluredir", str(alluredir), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    (r,) = allure_results(alluredir).values()
    attached = {a["name"]: a for a in r["attachments"]}
    assert attached["a curve"]["type"] == "image/png" and attached["a table"]["type"] == "text/csv"
    assert (alluredir / attached["a table"]["source"]).read_text().splitlines() == ["seed,loss", "0,0.5"]
    assert (alluredir / attached["a curve"]["source"]).read_bytes().startswith(b"\x89PNG")


DRAWN = '''
from hypothesis import given, strategies as st
from instincts import Superior, claim


@claim("D-1", "drawn configs")
@given(width=st.integers(1, 10_000))
def test_drawn(experiment, width):
    # BODY
    experiment.compare(lambda s: float(s % 3), lambda s: float(s % 2), metric="value", expect=Superior(),
                       config={"width": width})
'''


def _drawn_configs(pytester: pytest.Pytester, body: str) -> list[dict]:
    pytester.makepyfile(test_drawn=DRAWN.replace("# BODY", body))
    pytester.runpytest_inprocess("--claims-json", "c.json", "-p", "no:cacheprovider")
    (claim,) = json.loads(Path(pytester.path, "c.json").read_text())["claims"]
    return [part["config"] for part in claim["parts"]]


def test_smoke_draws_follow_the_node_id_not_the_source(pytester: pytest.Pytester):
    """Editing a claim's body must not redraw its configs (a gated verdict would flip for nothing)."""
    first = _drawn_configs(pytester, "# one comment")
    assert _drawn_configs(pytester, "assert True  # another body") == first
    assert len(first) == 2
