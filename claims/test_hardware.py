"""Hardware: RAM in slots 2 & 4 (dual channel)? (HW-1)

Moving RAM sticks is not something software can do, so the question itself is skipped with what
it would need; what software *can* see is recorded instead (``fixtures.backend_facts``): the
backend (CUDA/ROCm, cuDNN, driver), the STREAM-like copy and triad bandwidth the RAM actually
delivers, and the channel count where the machine exposes it. The data-loader claim (pin_memory=True:
pinned against pageable host memory for copies to the device) is measured where there is a CUDA device.
"""

from __future__ import annotations

from functools import partial

import pytest
from hypothesis import given

from fixtures.arms.hardware import pinned_speedup, stream_bandwidth
from fixtures.backend_facts import channel_summary, memory_channel_facts, record_backend_facts
from instincts import Reference, Superior, claim, log_integers

SECTION = "Hardware"
PINNED_SEEDS = 8


@claim("HW-1", "Filling RAM slots 2 & 4 (dual channel) beats a single channel",
       section=SECTION, question="Which RAM slots should be filled first?",
       anchors=["Motherboard manuals: DIMM A2/B2 first for dual channel",
                "McCalpin, STREAM benchmark: sustainable memory bandwidth (copy, triad)"],
       method="Not testable in software: needs the same machine timed with DIMMs in one slot and in slots 2 & 4 "
              "(physically moved). Measured instead and attached: STREAM-like copy (c = a) and triad "
              "(a = b + 3c) on three float64 arrays of max(LLC, 256 MiB) each (at most 1 GiB), by torch in this "
              "process's threads, best of two torch.utils.benchmark blocked_autorange(min_run_time=0.2) "
              "medians, bytes counted as STREAM does; the channel count where the machine exposes it "
              "(dmidecode -t memory, /sys/devices/system/edac, lsmem); the backend facts",
       prediction="dual channel doubles peak bandwidth (2 x 8 bytes per transfer); STREAM triad typically gains "
                  "1.6-1.9x from the second channel")
def test_hw1_dual_channel_ram(experiment):
    facts = record_backend_facts(experiment)
    bandwidth, channels = stream_bandwidth(), memory_channel_facts()
    experiment.attach("host memory bandwidth (STREAM-like) and memory channels", {**bandwidth, **channels})
    pytest.skip("not testable in software: needs the same machine measured with DIMMs in slot 2 only and in slots "
                f"2 & 4 (physically moved); measured here: STREAM copy {bandwidth['copy_GBps']} GB/s, triad "
                f"{bandwidth['triad_GBps']} GB/s ({bandwidth['threads']} thread(s), 3 x {bandwidth['array_MiB']} "
                f"MiB arrays); {channel_summary(channels)}; {facts}")


@claim(id="HW-1", timing=True,
       statement="A data loader with pin_memory=True speeds host-to-device copies: batches of >= 64 MB copy to "
       "the GPU >= 1.3x faster from its pinned (page-locked) batch than from a pageable one",
       section=SECTION, question="Which RAM slots should be filled first? (data-loader side: pin_memory=True; "
       "DMA from page-locked host memory, not memory channels)",
       anchors=["SPDL (Meta): pinned-memory transfer 1.34-1.44x faster"],
       method=f"Per seed (one repetition, {PINNED_SEEDS} seeds: fewer than the budget, each is a timing "
              "repetition) one batch of random float32 rows of the drawn size from "
              "DataLoader(pin_memory=True) and one from DataLoader(pin_memory=False); host-to-device copies "
              "(non_blocking from the pinned batch) timed by torch.utils.benchmark blocked_autorange("
              "min_run_time=0.2), synchronised, in ABBA order; per-seed value t_pageable / t_pinned (mean "
              "of the two medians each); one-sided t against 1.3 (a constant arm). Hypothesis draws the size "
              "log-uniform in 64..1024 MiB",
       prediction="1.34-1.44x (SPDL); the pinned copy reaches the PCIe/NVLink DMA rate, the pageable one "
                  "stages through a driver buffer")
@given(mib=log_integers(64, 1024))
def test_hw1_pinned_memory_copies_faster(experiment, mib):
    if experiment.device.type != "cuda":
        pytest.skip("needs CUDA: pin_memory=True pins the loader's batches for DMA to a GPU; there is no device "
                    "to copy to on CPU")
    verdict = experiment.compare(partial(pinned_speedup, mib=mib, device=str(experiment.device)),
                                 Reference(1.3, "pinned_speedup"), metric="pinned_speedup", expect=Superior(),
                                 seeds=min(experiment.budget.seeds, PINNED_SEEDS), config={"MiB": mib},
                                 labels=("t_page/t_pin", "1.3x"), unit="")
    assert verdict
