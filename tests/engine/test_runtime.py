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
