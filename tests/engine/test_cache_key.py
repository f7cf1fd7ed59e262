"""The run-cache key: exactly the fields that decide a run's result, no more, no fewer.

A key that forgets a field serves a stale result (a smoke run's numbers to a standard run); one that
adds a run-dependent field never hits. The fields are pinned here, and each one is shown to matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from instincts import BUDGETS, __version__
from instincts.cache import RunCache, digest
from instincts.experiment import Experiment

KEY_FIELDS = {"arm", "seed", "budget", "device", "engine"}


class SpyCache(RunCache):
    def __init__(self):
        super().__init__(None)
        self.keys: list[dict] = []

    def get(self, identity):
        self.keys.append(identity)
        return super().get(identity)


@dataclass(frozen=True)
class Arm:
    width: int = 3

    def run(self, seeds, context):
        return [{"value": float(s * self.width + context.budget.epochs)} for s in seeds]


def keys_of(budget="smoke", device="cpu", arm=None, seeds=(0, 1)):
    cache = SpyCache()
    Experiment(BUDGETS[budget], torch.device(device), cache).run(arm or Arm(), list(seeds))
    return cache.keys


def test_the_key_has_exactly_its_fields():
    for key in keys_of():
        assert set(key) == KEY_FIELDS
        assert key["budget"] == "smoke" and key["device"] == "cpu" and key["engine"] == __version__


def test_every_field_changes_the_key():
    base = digest(keys_of()[0])
    assert digest(keys_of(budget="standard")[0]) != base  # a budget has its own epochs and data
    assert digest(keys_of(device="meta")[0]) != base
    assert digest(keys_of(arm=Arm(width=4))[0]) != base
    assert digest(keys_of(seeds=(1,))[0]) != base


def test_a_budget_never_reads_another_budgets_result():
    cache = RunCache(None)
    smoke = Experiment(BUDGETS["smoke"], torch.device("cpu"), cache).run(Arm(), [0])
    standard = Experiment(BUDGETS["standard"], torch.device("cpu"), cache).run(Arm(), [0])
    assert smoke != standard
