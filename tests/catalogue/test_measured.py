"""Timing arms' rows: the report's table shows the repetitions the verdict saw, not a fresh timing."""

from dataclasses import dataclass

from fixtures.measured import attach_rows, remember


@dataclass(frozen=True)
class CountingArm:
    """A stand-in timing arm: every run returns different numbers, as a timing would."""

    tag: str

    def run(self, seeds, context):
        return remember(self, seeds, [{"seconds": float(s) + 0.5} for s in seeds])


class FakeExperiment:
    def __init__(self):
        self.runs, self.attached = 0, []

    def seeds(self, n=None):
        return list(range(n))

    def run(self, arm, seeds):
        self.runs += 1
        return [{"seconds": -1.0} for _ in seeds]

    def attach(self, name, obj, kind=None):
        self.attached.append((name, obj))


def test_rows_measured_in_this_process_are_attached_without_running_again():
    arm, experiment = CountingArm("measured"), FakeExperiment()
    arm.run([0, 1, 2], None)
    rows = attach_rows(experiment, arm, 3, "per repetition")
    assert experiment.runs == 0 and [r["seconds"] for r in rows] == [0.5, 1.5, 2.5]
    assert experiment.attached == [("per repetition", [{"seed": s, "seconds": s + 0.5} for s in range(3)])]


def test_rows_not_measured_here_come_from_the_experiment():
    arm, experiment = CountingArm("cached"), FakeExperiment()
    rows = attach_rows(experiment, arm, 2, "per repetition")
    assert experiment.runs == 1 and rows == [{"seconds": -1.0}] * 2
