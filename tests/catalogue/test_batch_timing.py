"""The BS-2/BS-3 arms: alignment gaps count work as promised, throughput levels share one timed
repetition, and the memory line is exact for the saved-tensor accounting on CPU."""

from __future__ import annotations

import math

import pytest
import torch

from fixtures.arms.batch_size import (
    ABOVE,
    BELOW,
    alignment_gaps,
    macs_per_sample,
    memory_ladder,
    peak_memory,
    ratio_rows,
    samples_per_second,
    saved_bytes,
    timing_mlp,
)


def test_alignment_gaps_compare_both_neighbours_on_one_repetition():
    kw = dict(batches=(15, 16, 17), widths=(32, 32, 32), n_in=16, device="cpu", min_run_time=0.01)
    first, again = alignment_gaps(0, **kw), alignment_gaps(0, **kw)
    assert first == again  # cached: the second comparison reads the same repetition
    assert first[BELOW] > -1 and first[ABOVE] > -1 and first["ms_per_step_1"] > 0  # ratios of positive rates


def test_alignment_gaps_count_macs_when_asked():
    assert macs_per_sample(256, 128) == 256 * 128 + 128 * 128 + 1280
    gaps = alignment_gaps(1, batches=(8, 8, 8), widths=(15, 16, 17), n_in=8, device="cpu", per="mac",
                          dtype="bfloat16", min_run_time=0.01)
    assert all(math.isfinite(v) for v in gaps.values())


@pytest.mark.parametrize("kwargs, message", [
    ({"batches": (1, 2)}, "batches=\\(1, 2\\) is not allowed"),
    ({"per": "flop"}, "per='flop' is not allowed"),
])
def test_alignment_gaps_name_bad_input(kwargs, message):
    base = dict(batches=(3, 4, 5), widths=(8, 8, 8), n_in=4, device="cpu", min_run_time=0.01)
    with pytest.raises(ValueError, match=message):
        alignment_gaps(0, **{**base, **kwargs})


def test_throughput_levels_come_from_one_interleaved_repetition():
    levels = (8, 64)
    rates = [samples_per_second(0, batch=b, batches=levels, device="cpu", min_run_time=0.01) for b in levels]
    assert all(r > 0 for r in rates)
    with pytest.raises(ValueError, match="batch=3 is not one of"):
        samples_per_second(0, batch=3, batches=levels, device="cpu")


def test_memory_ladder_doubles_from_a_seeded_start():
    batches, held_out = memory_ladder(3, 64)
    assert 64 <= batches[0] < 128 and batches == [batches[0] * 2**i for i in range(4)]
    assert held_out == 16 * batches[0] and memory_ladder(3, 64) == (batches, held_out)


def test_saved_bytes_grow_with_the_batch_and_leave_parameters_out():
    model = timing_mlp(16, 32, "cpu")
    s10, s20, s30 = (saved_bytes(model, torch.randn(b, 16), torch.randint(0, 10, (b,))) for b in (10, 20, 30))
    assert s30 - s20 == s20 - s10 > 0  # linear in the batch
    assert s10 < 10 * (16 + 3 * 32 + 2 * 10) * 4 + 64  # activations (and a scalar), no 2 KiB weight matrix


def test_peak_memory_line_is_exact_for_the_cpu_accounting():
    out = peak_memory(0, lo=8, width=16, n_in=8, device="cpu")
    assert abs(out["log_error"]) < 1e-9 and 0 < out["batch_share"] < 1


def test_ratio_rows_lists_every_seed_of_every_comparison():
    class Record:
        labels, config, seeds, values = ["b=7 / b=8", "0"], {"k": 3}, [0, 1], [[0.01, 0.0], [-0.02, 0.0]]

    rows = ratio_rows([Record()])
    assert [r["seed"] for r in rows] == [0, 1] and rows[1] == {"comparison": "b=7 / b=8", "k": 3, "seed": 1,
                                                               "ratio_minus_1": -0.02}
