"""GPU: AMD vs NVIDIA (GPU-1), one good device vs several weak ones (GPU-2), mixing vendors (GPU-3),
sharing one GPU between many users' jobs (GPU-4).

GPU-2 runs real data-parallel training (torch.distributed, DistributedDataParallel) in worker
processes that the claim starts and ends itself (fixtures/ddp.py): gloo on CPU, NCCL over the
GPUs present. GPU-4 runs independent jobs on one GPU, at once and one after another, with NVML
utilization sampled and attached.
"""

from __future__ import annotations

import pytest
import torch

from fixtures.arms.gpu import SharedGPUJobs
from fixtures.backend_facts import record_backend_facts
from fixtures.measured import attach_rows
from fixtures.scaling import judge_scaling
from instincts import Reference, Superior, claim

SECTION = "GPU"
HOROVOD = "Sergeev & Del Balso 2018 (Horovod): 90% scaling efficiency for ResNet-101, 68% for VGG-16 (parameter-heavy)"


# -- GPU-1 and GPU-3: both vendors -------------------------------------------------------------

@claim("GPU-1", "AMD and NVIDIA GPUs of the same class train the same models at comparable speed",
       section=SECTION, question="AMD vs NVIDIA?",
       anchors=["ROCm and CUDA builds of PyTorch run the same model code"],
       method="Needs one AMD (ROCm) and one NVIDIA (CUDA) GPU to time the same training on both; records the "
              "backend facts (CUDA/ROCm, cuDNN, driver via NVML) and the host copy bandwidth")
def test_amd_vs_nvidia(experiment):
    facts = record_backend_facts(experiment)
    pytest.skip(f"needs both vendors: an AMD GPU with a ROCm build of torch and an NVIDIA GPU with a CUDA build, "
                f"to time the same training on each; {facts}")


@claim("GPU-3", "NVIDIA and Radeon GPUs cannot train one model together: there is no common collective backend",
       section=SECTION, question="Can NVIDIA and Radeon GPUs be mixed in one machine?",
       anchors=["NCCL is NVIDIA-only, RCCL is AMD-only; torch.distributed needs one backend for the whole group",
                "SLI pairs only NVIDIA cards, CrossFire only AMD cards"],
       method="Needs an NVIDIA and an AMD GPU in one machine to try a data-parallel group across them; records "
              "the backend facts and the host copy bandwidth")
def test_mixing_nvidia_and_radeon(experiment):
    facts = record_backend_facts(experiment)
    pytest.skip(f"needs both vendors in one machine (an NVIDIA GPU for NCCL and an AMD GPU for RCCL) to try one "
                f"process group across them; {facts}")


# -- GPU-2: data-parallel scaling --------------------------------------------------------------

GPU2 = dict(section=SECTION, question="One good GPU or several weak ones?", anchors=[HOROVOD])


@claim(id="GPU-2", timing=True,
       statement="Several weak workers of the same total compute are slower than one strong one: data-parallel "
       "scaling efficiency is below 1, and lower for a parameter-heavy net than for a small conv net",
       method="torch.distributed gloo on loopback, DistributedDataParallel: 1 process x 2 threads vs 2 processes x 1 "
              "thread, same global batch 64 (32 per rank), SGD, OMP_WAIT_POLICY=PASSIVE; small conv net (25k "
              "parameters, 2.7 MFLOPs per 32x32 image) vs dense net (4.2M parameters); per repetition each model "
              "in each setup for 2 warm-up and 6 timed steps, the order reversing every repetition; efficiency = "
              "samples/s of 2 processes / samples/s of 1 process; one-sided t of 1 - efficiency against 0 per "
              "model (a constant arm), and one-sided paired t of conv - dense efficiency", comparisons=3, **GPU2)
def test_data_parallel_on_cpu_processes(experiment):
    assert all(verdicts := judge_scaling(experiment, "cpu", 2)), verdicts


@claim(id="GPU-2", timing=True,
       statement="Several GPUs scale below 1 (NCCL data parallel), lower for a parameter-heavy net",
       method="NCCL over every GPU present, DistributedDataParallel, batch 64 per GPU (weak scaling) vs one GPU at "
              "batch 64; efficiency = samples/s of N GPUs / (N x samples/s of one); tests as on CPU", **GPU2)
def test_data_parallel_on_gpus(experiment):
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count < 2:
        pytest.skip(f"needs at least 2 CUDA GPUs for NCCL data parallelism; this machine has {count}")
    assert all(verdicts := judge_scaling(experiment, "cuda", count)), verdicts


# -- GPU-4: many jobs on one GPU ---------------------------------------------------------------

@claim(id="GPU-4", timing=True,
       statement="Several small trainings running at once on one GPU give more total throughput than the same jobs "
       "one after another",
       section=SECTION, question="One server with several GPUs: how do many users keep every GPU busy?",
       anchors=["NVIDIA MPS: up to +30% throughput for small jobs sharing a GPU (and -30% under memory contention)"],
       method="4 worker processes on one GPU, each training the small conv net (batch 64, 200 timed steps after 5 "
              "warm-up) on its own data; per repetition all 4 at once vs one after another (order alternating); "
              "speedup = concurrent / sequential samples/s; one-sided t of speedup against 1.0 (a constant arm); "
              "NVML utilization sampled every 50 ms and attached")
def test_concurrent_jobs_share_a_gpu(experiment):
    if experiment.device.type != "cuda":
        pytest.skip("needs CUDA: several processes training on one GPU, with NVML utilization; there is no GPU here")
    arm = SharedGPUJobs()
    seeds = max(6, experiment.budget.seeds // 2)
    verdict = experiment.compare(arm, Reference(1.0, "speedup"), metric="speedup", expect=Superior(), seeds=seeds,
                                 unit="", config={"jobs": arm.jobs, "model": arm.model},
                                 labels=("conc./seq.", "1.0 (no gain)"))
    rows = attach_rows(experiment, arm, seeds, "throughput and NVML utilization per repetition")
    experiment.attach("mean NVML utilization (%)",
                      {"mean_gpu_util": {m: sum(r[f"{m}_gpu_util"] for r in rows) / len(rows)
                                         for m in ("concurrent", "sequential")}})
    assert verdict
