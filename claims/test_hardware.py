"""Hardware: RAM in slots 2 & 4 (dual channel)? (HW-1)

Moving RAM sticks is not something software can do, so the question itself is skipped with what
it would need; what software *can* see is recorded instead (``fixtures.backend_facts``): the
backend (CUDA/ROCm, cuDNN, driver) and the host memory-copy bandwidth the RAM actually delivers.
The GPU proxy (pinned vs pageable host memory for copies to the device) is measured where there
is a CUDA device.
"""

from __future__ import annotations

from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.arms.hardware import pinned_speedup
from fixtures.backend_facts import record_backend_facts
from instincts import Reference, Superior, claim

SECTION = "Hardware"


@claim("HW-1", "Filling RAM slots 2 & 4 (dual channel) beats a single channel",
       section=SECTION, question="Which RAM slots should be filled first?",
       anchors=["Motherboard manuals: DIMM A2/B2 first for dual channel"],
       method="Not testable in software (needs moving DIMMs between slots on one machine and timing memory "
              "copies in each layout); records the backend facts and the host copy bandwidth of a 64 MiB "
              "tensor copy (median of 5) instead")
def test_hw1_dual_channel_ram(experiment):
    facts = record_backend_facts(experiment)
    pytest.skip("not testable in software: needs the same machine measured with DIMMs in slot 2 only and in slots "
                f"2 & 4 (physically moved); {facts}")


@claim(id="HW-1", timing=True,
       statement="Copies of >= 64 MB to the GPU from pinned host memory are >= 1.3x faster than from pageable memory",
       section=SECTION, question="Which RAM slots should be filled first? (GPU proxy: host memory and the device)",
       anchors=["SPDL (Meta): pinned-memory transfer 1.34-1.44x faster"],
       method="Per seed (one repetition) a fresh pageable tensor and a pinned copy of it, 2 warm-up pairs and 5 "
              "timed pairs of host-to-device copies of the drawn size (64 or 256 MiB) in ABBA order "
              "(cuda.synchronize around each); the per-seed "
              "value is the median of t_pageable / t_pinned; one-sided t against 1.3 (a constant arm)")
@given(mib=st.sampled_from([64, 256]))
def test_hw1_pinned_memory_copies_faster(experiment, mib):
    if experiment.device.type != "cuda":
        pytest.skip("needs CUDA: pinned (page-locked) host memory speeds up host-to-GPU copies; there is no "
                    "device to copy to on CPU")
    verdict = experiment.compare(partial(pinned_speedup, mib=mib, device=str(experiment.device)),
                                 Reference(1.3, "pinned_speedup"), metric="pinned_speedup",
                                 expect=Superior(), config={"MiB": mib}, labels=("t_page/t_pin", "1.3x"))
    assert verdict
