"""Hardware: RAM in slots 2 & 4 (dual channel)? (HW-1) And the backend facts every hardware claim records.

Moving RAM sticks is not something software can do, so the question itself is skipped with what
it would need; what software *can* see is recorded instead: the backend (CUDA/ROCm, cuDNN,
driver) and the host memory-copy bandwidth the RAM actually delivers. The GPU proxy (pinned vs
pageable host memory for copies to the device) is measured where there is a CUDA device.
"""

from __future__ import annotations

import json
from functools import partial

import allure
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from instincts import Superior, claim
from instincts.devices import environment
from instincts.timing import Reference, copy_bandwidth, time_interleaved

SECTION = "Hardware"
COPY_MIB = 64  # the catalogue's ">= 64 MB": larger than any CPU cache, so RAM is what is measured


def host_copy_bandwidth(mib: int = COPY_MIB, repetitions: int = 5) -> float:
    """GB/s of a host-to-host tensor copy of ``mib`` MiB (median of ``repetitions``)."""
    src = torch.ones(mib * 2**20 // 4)
    return copy_bandwidth(torch.empty_like(src), src, repetitions=repetitions)


def backend_summary() -> str:
    """One line of the facts that decide GPU questions: CUDA or ROCm, cuDNN, driver, GPUs."""
    env = environment()
    return (f"CUDA {env['cuda']}, ROCm/HIP {env['hip']}, cuDNN {env['cudnn']}, "
            f"driver {env.get('nvml.driver', 'none (no NVML)')}, GPUs {env.get('nvml.gpu_count', '0')}")


def record_backend_facts() -> str:
    """Attach the backend facts and the measured host copy bandwidth; return them in one line for
    the skip reason, so that reports/claims.json records them too."""
    facts = {**environment(), "host_copy_GBps": round(host_copy_bandwidth(), 2), "host_copy_MiB": COPY_MIB}
    allure.attach(json.dumps(facts, indent=2), name="backend facts and host copy bandwidth",
                  attachment_type=allure.attachment_type.JSON)
    return f"this machine: {backend_summary()}; host copy {facts['host_copy_GBps']} GB/s ({COPY_MIB} MiB)"


@claim("HW-1", "Filling RAM slots 2 & 4 (dual channel) beats a single channel",
       section=SECTION, question="Which RAM slots should be filled first?",
       anchors=["Motherboard manuals: DIMM A2/B2 first for dual channel"],
       method="Not testable in software (needs moving DIMMs between slots on one machine and timing memory "
              "copies in each layout); records the backend facts and the host copy bandwidth of a 64 MiB "
              "tensor copy (median of 5) instead")
def test_hw1_dual_channel_ram(experiment):
    facts = record_backend_facts()
    pytest.skip("not testable in software: needs the same machine measured with DIMMs in slot 2 only and in slots "
                f"2 & 4 (physically moved); {facts}")


def pinned_speedup(seed: int, *, mib: int, device: str) -> dict[str, float]:
    """Host-to-device copy time from pageable over pinned memory, interleaved (one repetition)."""
    n = mib * 2**20 // 4
    pageable = torch.randn(n)
    pinned = torch.empty(n).pin_memory()
    pinned.copy_(pageable)
    dst = torch.empty(n, device=device)
    times = time_interleaved(lambda: dst.copy_(pageable), lambda: dst.copy_(pinned, non_blocking=True),
                             repetitions=5, warmup=2, order="abba", seed=seed, device=device)
    return {"pinned_speedup": times.median_ratio}


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
