"""Claim time per section, and the limit the gate enforces on it."""

import json

import pytest

from instincts import InvalidArgument, runtime
from instincts.cli import main
from instincts.results import ClaimResult


def claims():
    return [ClaimResult(id="BS-1", nodeid="a", verdict="SKIPPED", section="Batch Size", duration_s=30.0, reason="r"),
            ClaimResult(id="BS-2", nodeid="b", verdict="SKIPPED", section="Batch Size", duration_s=12.0, reason="r"),
            ClaimResult(id="IN-1", nodeid="c", verdict="SKIPPED", section="Input", duration_s=90.0, reason="r"),
            ClaimResult(id="X-1", nodeid="d", verdict="SKIPPED", duration_s=None, reason="r")]


def test_sections_are_summed_largest_first():
    assert runtime.section_seconds(claims()) == {"Input": 90.0, "Batch Size": 42.0, "X": 0.0}
    assert runtime.summary(claims(), workers=2) == ("claim time (serial s): Input 90, Batch Size 42, X 0; "
                                                    "total 132 s (about 1.1 min on 2 workers)")


def test_limit():
    assert runtime.over_limit(claims(), 3) == ""
    message = runtime.over_limit(claims(), 2)
    assert message.startswith("the claims took 2.2 serial minutes, over the limit of 2")
    with pytest.raises(InvalidArgument, match="max_minutes=0"):
        runtime.over_limit(claims(), 0)


def test_gate_fails_a_run_over_its_time_limit(tmp_path, capsys):
    from instincts import results

    path = tmp_path / "claims.json"
    results.write(path, claims(), {"budget": "smoke", "device": "cpu"})
    assert main(["gate", "--baseline", str(path), "--current", str(path), "--max-claim-minutes", "3"]) == 0
    assert main(["gate", "--baseline", str(path), "--current", str(path), "--max-claim-minutes", "2"]) == 1
    assert "over the limit of 2" in capsys.readouterr().out
    assert json.loads(path.read_text())["claims"]


def timed(seconds):
    return [ClaimResult(id=f"X-{i}", nodeid=f"n{i}", verdict="SKIPPED", duration_s=s, reason="r")
            for i, s in enumerate(seconds)]


def test_a_slower_machine_is_not_a_longer_catalogue():
    base = timed([10.0] * 12)
    assert runtime.machine_factor(timed([22.0] * 12), base) == pytest.approx(2.2)
    assert runtime.over_limit(timed([22.0] * 12), 2.5, base) == ""  # 4.4 min here, 2.0 on the baseline's machine
    assert "serial minutes" in runtime.over_limit(timed([22.0] * 12), 2.5)


def test_one_claim_that_grows_still_fails_on_any_machine():
    base = timed([10.0] * 12)
    grown = timed([20.0] * 11 + [400.0])  # the machine is 2x slower and one claim grew 20x
    assert runtime.machine_factor(grown, base) == pytest.approx(2.0)
    message = runtime.over_limit(grown, 2.5, base)
    assert message.startswith("the claims took 5.2 baseline-machine minutes (10.3 here, on a machine 2.00x")


def test_too_few_matched_claims_fall_back_to_serial_time():
    assert runtime.machine_factor(timed([22.0] * 5), timed([10.0] * 5)) is None
    assert runtime.machine_factor(timed([0.5] * 12), timed([0.2] * 12)) is None  # too short to time


def test_claims_go_out_longest_first_one_at_a_time():
    from types import SimpleNamespace

    from instincts.plugin import _longest_first, _one_at_a_time

    items = [SimpleNamespace(nodeid=n) for n in ("t::unit", "c::short", "c::long", "t::other")]
    _longest_first(items, {"c::short": 3.0, "c::long": 90.0})
    assert [i.nodeid for i in items] == ["c::long", "c::short", "t::unit", "t::other"]  # the rest keep their order
    config = SimpleNamespace(option=SimpleNamespace(dist="load", maxschedchunk=None))
    _one_at_a_time(config)
    assert config.option.maxschedchunk == 1
    given = SimpleNamespace(option=SimpleNamespace(dist="load", maxschedchunk=8))
    _one_at_a_time(given)
    assert given.option.maxschedchunk == 8  # the user's choice is kept
