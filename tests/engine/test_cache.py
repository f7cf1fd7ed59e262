"""The run cache: atomic writes, corrupt entries warned about and recomputed, memory-only mode."""

import json
import os
import threading
import warnings
from pathlib import Path

import pytest
import torch

from instincts import BUDGETS, Equivalent
from instincts.cache import SCHEMA, CacheWarning, RunCache, digest, write_json_atomic
from instincts.experiment import Experiment

IDENT = {"arm": {"callable": "mod.f@abc"}, "seed": 3, "budget": "smoke", "device": "cpu", "engine": "0.1"}
METRICS = {"accuracy": 0.75, "loss": 0.5}


def entry_path(root: Path, identity=IDENT) -> Path:
    key = digest(identity)
    return root / key[:2] / f"{key}.json"


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.name.endswith(".tmp")]


def test_round_trip_on_disk(tmp_path: Path):
    RunCache(tmp_path).put(IDENT, METRICS)
    path = entry_path(tmp_path)
    entry = json.loads(path.read_text())
    assert entry["schema"] == SCHEMA and entry["identity"] == IDENT and entry["metrics"] == METRICS
    fresh = RunCache(tmp_path)  # a new session reads it back
    assert fresh.get(IDENT) == METRICS and fresh.hits == 1
    assert fresh.get({**IDENT, "seed": 4}) is None and fresh.misses == 1


def test_digest_ignores_key_order_but_not_values():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}) != digest({"a": 1.5}) != digest({"a": "1"})


def test_atomic_write_leaves_no_temp_file(tmp_path: Path):
    path = tmp_path / "sub" / "x.json"
    write_json_atomic(path, {"v": 1})
    write_json_atomic(path, {"v": 2})
    assert json.loads(path.read_text()) == {"v": 2}
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.json"]


def test_failed_write_keeps_the_old_content(tmp_path: Path):
    path = tmp_path / "x.json"
    write_json_atomic(path, {"v": 1})
    with pytest.raises(ValueError):  # NaN is not JSON: fails after the temp file was opened
        write_json_atomic(path, {"v": 2, "bad": float("nan")})
    assert json.loads(path.read_text()) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_interrupted_write_keeps_the_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "x.json"
    write_json_atomic(path, {"v": 1})

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(path, {"v": 2})
    assert json.loads(path.read_text()) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_readers_see_old_or_new_never_half(tmp_path: Path):
    path = tmp_path / "x.json"
    big = {"values": list(range(5000))}
    write_json_atomic(path, {**big, "v": 0})
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            i += 1
            write_json_atomic(path, {**big, "v": i})

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen = {json.loads(path.read_text())["v"] for _ in range(200)}  # never a JSONDecodeError
    finally:
        stop.set()
        thread.join()
    assert seen
    assert leftovers(tmp_path) == []


def tamper_metrics(path: Path) -> None:
    entry = json.loads(path.read_text())
    entry["metrics"]["accuracy"] = 0.99  # the checksum no longer matches
    path.write_text(json.dumps(entry))


def rechecked_infinity(path: Path) -> None:
    entry = json.loads(path.read_text())
    entry["metrics"]["accuracy"] = float("inf")
    entry["check"] = digest(entry["metrics"])
    path.write_text(json.dumps(entry))


def other_key(path: Path) -> None:
    entry = json.loads(path.read_text())
    entry["key"] = digest({"another": "run"})
    path.write_text(json.dumps(entry))


def other_schema(path: Path) -> None:
    entry = json.loads(path.read_text())
    entry["schema"] = SCHEMA + 1
    path.write_text(json.dumps(entry))


CORRUPTIONS = {
    "truncated": lambda p: p.write_text(p.read_text()[: len(p.read_text()) // 2]),
    "empty": lambda p: p.write_text(""),
    "binary": lambda p: p.write_bytes(b"\xff\xfe\x00garbage"),
    "not an object": lambda p: p.write_text("[1, 2, 3]"),
    "no metrics": lambda p: p.write_text('{"schema": 1}'),
    "tampered metrics": tamper_metrics,
    "non-finite metric": rechecked_infinity,
    "wrong key": other_key,
    "wrong schema": other_schema,
}


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS.values()), ids=list(CORRUPTIONS))
def test_corrupt_entry_is_warned_about_and_dropped(tmp_path: Path, corrupt):
    RunCache(tmp_path).put(IDENT, METRICS)
    path = entry_path(tmp_path)
    corrupt(path)
    cache = RunCache(tmp_path)
    with pytest.warns(CacheWarning, match="corrupt run-cache entry") as record:
        assert cache.get(IDENT) is None
    assert str(path) in str(record[0].message)
    assert not path.exists() and cache.misses == 1
    cache.put(IDENT, METRICS)  # recomputed and rewritten, then trusted again
    assert RunCache(tmp_path).get(IDENT) == METRICS


def test_a_folder_in_place_of_an_entry_does_not_crash(tmp_path: Path):
    path = entry_path(tmp_path)
    path.mkdir(parents=True)
    cache = RunCache(tmp_path)
    with pytest.warns(CacheWarning, match=str(path.name)):
        assert cache.get(IDENT) is None
    with pytest.warns(CacheWarning, match="kept in memory only"):
        cache.put(IDENT, METRICS)
    assert cache.get(IDENT) == METRICS


def counting_arm(seed: int) -> float:
    counting_arm.calls += 1
    return float(seed % 3)


counting_arm.calls = 0


def test_experiment_recomputes_a_corrupt_entry(tmp_path: Path):
    budget, cpu = BUDGETS["smoke"], torch.device("cpu")
    counting_arm.calls = 0
    first = Experiment(budget, cpu, RunCache(tmp_path)).values(counting_arm, "value", [0, 1, 2, 3])
    assert counting_arm.calls == 4
    entries = sorted(tmp_path.rglob("*.json"))
    assert len(entries) == 4
    entries[0].write_text(entries[0].read_text()[:40])  # truncated by a crash of another tool

    with pytest.warns(CacheWarning, match=str(entries[0])):
        again = Experiment(budget, cpu, RunCache(tmp_path)).values(counting_arm, "value", [0, 1, 2, 3])
    assert counting_arm.calls == 5  # only the corrupt seed ran again
    assert again.tolist() == first.tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)  # the rewritten entry is whole again
        Experiment(budget, cpu, RunCache(tmp_path)).values(counting_arm, "value", [0, 1, 2, 3])
    assert counting_arm.calls == 5


def test_memory_only_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    cache = RunCache(None)
    assert cache.get(IDENT) is None
    cache.put(IDENT, METRICS)
    assert cache.get(IDENT) == METRICS and cache.hits == 1
    assert RunCache(None).get(IDENT) is None  # nothing survives the session
    assert list(tmp_path.iterdir()) == []

    counting_arm.calls = 0
    exp = Experiment(BUDGETS["smoke"], torch.device("cpu"), RunCache(None))
    exp.compare(counting_arm, counting_arm, metric="value", expect=Equivalent(margin=0.1), seeds=3)
    assert counting_arm.calls == 3  # arm B is the same arm: its seeds come from memory
    assert list(tmp_path.iterdir()) == []
