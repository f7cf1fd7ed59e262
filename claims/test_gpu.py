"""GPU: AMD vs NVIDIA (GPU-1), one good device vs several weak ones (GPU-2), mixing vendors (GPU-3),
sharing one GPU between many users' jobs (GPU-4).

GPU-2 runs real data-parallel training (torch.distributed, DistributedDataParallel) in worker
processes that the claim starts and ends itself (fixtures/ddp.py): gloo on CPU, NCCL over the
GPUs present, and on one GPU MPS clients capped to a share of its SMs where an MPS daemon runs.
GPU-3 times all-reduce with the native backend against gloo through host memory, the only common
path two vendors' GPUs have. GPU-4 runs independent jobs on one GPU, at once and one after
another, with per-job latency, NVML utilization and the GPU's MPS/MIG state attached.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given

from fixtures.arms.gpu import CollectiveBandwidth, DataParallelScaling, SharedGPUJobs
from fixtures.backend_facts import record_backend_facts
from fixtures.ddp import WorkerError
from fixtures.gpu_utilization import describe_sharing, mps_active, sharing_facts
from fixtures.measured import attach_rows
from fixtures.scaling import MAX_CORES_SHORT, judge_scaling
from instincts import Reference, Requires, Superior, claim, log_integers

SECTION = "GPU"
HOROVOD = ("Sergeev & Del Balso 2018 (Horovod): 90% scaling efficiency for ResNet-101 and Inception V3, 68% for "
           "VGG-16 (parameter-heavy), on up to 512 Pascal GPUs (128 servers x 4)")
HOROVOD_PREDICTION = ("efficiency < 1 for both nets and lower for the parameter-heavy one: ~0.90 for a conv net "
                      "(ResNet-101) vs ~0.68 for a dense-heavy net (VGG-16) in Horovod's runs")


def cuda_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


# -- GPU-1 and GPU-3: both vendors -------------------------------------------------------------

@claim("GPU-1", "AMD and NVIDIA GPUs of the same class train the same models at comparable speed",
       section=SECTION, question="AMD vs NVIDIA?",
       anchors=["ROCm and CUDA builds of PyTorch run the same model code"],
       method="Needs one AMD (ROCm) and one NVIDIA (CUDA) GPU to time the same training on both; records the "
              "backend facts (CUDA/ROCm, cuDNN, driver via NVML) and the host copy bandwidth",
       prediction="the anchor gives no number; the folklore's 'comparable' read as the same model's step time "
                  "within about ±20% on GPUs of the same class and generation, the gap set more by the kernel "
                  "libraries (cuDNN vs MIOpen) than by the silicon")
def test_amd_vs_nvidia(experiment):
    facts = record_backend_facts(experiment)
    pytest.skip(f"needs both vendors: an AMD GPU with a ROCm build of torch and an NVIDIA GPU with a CUDA build, "
                f"to time the same training on each; {facts}")


GPU3 = dict(section=SECTION, question="Can NVIDIA and Radeon GPUs be mixed in one machine?",
            anchors=["NCCL is NVIDIA-only, RCCL is AMD-only; gloo runs collectives on any device through host "
                     "memory (PyTorch distributed backends table)",
                     "nccl-tests: all-reduce bus bandwidth near the link's (PCIe ~20 GB/s, NVLink hundreds)"])
GPU3_PREDICTION = ("native NCCL >= 5x gloo via host at 64 MiB: NCCL near the link's bandwidth (~20 GB/s PCIe 4.0, "
                   "hundreds of GB/s NVLink, nccl-tests), gloo bound by device-host copies and loopback TCP (a few "
                   "GB/s)")


@claim("GPU-3", "NVIDIA and Radeon GPUs have no fast common collective backend: a mixed group can train only "
       "through gloo via host memory, slower than either vendor's native backend", timing=True,
       method="Needs an NVIDIA and an AMD GPU in one machine to time one gloo group across them; records the "
              "backend facts and the host copy bandwidth. The measurable half (native vs gloo on one vendor's "
              "GPUs) is the next GPU-3 test", prediction=GPU3_PREDICTION, **GPU3)
def test_mixing_nvidia_and_radeon(experiment):
    facts = record_backend_facts(experiment)
    pytest.skip(f"needs both vendors in one machine (an NVIDIA GPU with CUDA and an AMD GPU with ROCm; one torch "
                f"build drives only one of them, so each vendor's ranks need their own build) to time a gloo group "
                f"across them; {facts}")


@claim("GPU-3", "Gloo through host memory, the only backend two vendors' GPUs share, all-reduces much slower than "
       "the native backend on the same GPUs: bus bandwidth of NCCL / gloo > 1 at 64 MiB", timing=True,
       method="One rank per GPU present, two worlds that stay up (NCCL, and gloo on the same CUDA tensors, which "
              "it stages through host memory); per repetition each world all-reduces (sum) 64 MiB float32 3 "
              "times untimed and 10 times timed (median, barrier and cuda.synchronize around each), the worlds in "
              "ABBA order; bus bandwidth = bytes/s x 2(n-1)/n (nccl-tests); metric NCCL / gloo; one-sided t "
              "against 1.0 (a constant arm); both must return the right sum", prediction=GPU3_PREDICTION, **GPU3)
def test_native_backend_beats_gloo_via_host(experiment):
    if (count := cuda_count()) < 2:
        pytest.skip(f"needs at least 2 CUDA GPUs: NCCL has no CPU path, and it refuses two ranks on one GPU, so "
                    f"native vs gloo via host cannot be timed with {count}")
    arm = CollectiveBandwidth(workers=count)
    seeds = max(6, experiment.budget.seeds // 2)
    correct = [Requires(f"{b}_correct", at_least=1, arms=("NCCL/gloo",), why="an all-reduce returned a wrong sum")
               for b in ("native", "host")]
    verdict = experiment.compare(arm, Reference(1.0, "native_over_host"), metric="native_over_host",
                                 expect=Superior(), seeds=seeds, unit="", config={"GPUs": count, "MiB": arm.mib},
                                 labels=("NCCL/gloo", "1.0 (equal)"), requires=correct)
    attach_rows(experiment, arm, seeds, "bus bandwidth (GB/s) per backend and repetition")
    assert verdict


# -- GPU-2: data-parallel scaling --------------------------------------------------------------

GPU2 = dict(section=SECTION, question="One good GPU or several weak ones?", anchors=[HOROVOD], comparisons=3,
            timing=True)
GPU2_TESTS = ("efficiency = samples/s of the world / (2 x samples/s of one worker); one-sided t of 1 - efficiency "
              "against 0 per model (a constant arm), one-sided paired t of conv - dense efficiency")


@claim(id="GPU-2",
       statement="Two weak workers are slower than twice one: data-parallel scaling efficiency of 2 processes x 1 "
       "thread is below 1, and lower for a parameter-heavy net than for a small conv net",
       method="torch.distributed gloo on loopback, DistributedDataParallel, SGD; 2 processes x 1 thread vs 1 "
              "process x 1 thread (OMP_WAIT_POLICY=PASSIVE), every rank with the single process's batch (weak "
              "scaling, as Horovod measures); batch drawn log-uniformly from 16..64; small conv net (25k "
              "parameters, 2.7 MFLOPs per 32x32 image) vs dense net (4.2M parameters); per repetition each model "
              "in each setup for 3 warm-up and 100 timed steps, the order reversing every repetition (4 repetitions "
              f"in smoke: the budget's seeds / 3); {GPU2_TESTS}; requires that other processes left every worker "
              f"process a core (machine busy CPU from /proc/stat less the workers' own: at most {MAX_CORES_SHORT} "
              "cores short on average)",
       prediction=HOROVOD_PREDICTION + "; here the dense net's should sit far below 0.68: per step it does b "
                  "multiply-adds per parameter it all-reduces (32 at b=32) where VGG-16 at 64 images per GPU does "
                  "~7,000, and loopback gloo is its only link; the conv net (~1,700 per parameter at b=32) should be "
                  "nearer Horovod's 0.90", **GPU2)
@given(batch=log_integers(16, 64))
def test_data_parallel_on_cpu_processes(experiment, batch):
    arm = DataParallelScaling(workers=2, batch=batch, device="cpu")
    seeds = max(4, experiment.budget.seeds // 3)
    assert all(verdicts := judge_scaling(experiment, arm, seeds, {"batch": batch, "device": "cpu"})), verdicts


@claim(id="GPU-2",
       statement="Several GPUs scale below 1 (NCCL data parallel), lower for a parameter-heavy net",
       method="NCCL over every GPU present, DistributedDataParallel, batch 64 per GPU (weak scaling) vs one GPU at "
              f"batch 64, 100 timed steps after 3 warm-up; {GPU2_TESTS.replace('2 x', 'N x')}",
       prediction=HOROVOD_PREDICTION, **GPU2)
def test_data_parallel_on_gpus(experiment):
    if (count := cuda_count()) < 2:
        pytest.skip(f"needs at least 2 CUDA GPUs for NCCL data parallelism (one GPU: the next GPU-2 test); this "
                    f"machine has {count}")
    arm = DataParallelScaling(workers=count, batch=64, device="cuda")
    seeds = max(6, experiment.budget.seeds // 2)
    assert all(verdicts := judge_scaling(experiment, arm, seeds, {"GPUs": count, "batch": 64})), verdicts


@claim(id="GPU-2",
       statement="Two weak GPUs (half an SM budget each, emulated with MPS on one GPU) scale below 1, lower for a "
       "parameter-heavy net",
       method="One GPU with an MPS daemon: every worker an MPS client with CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50; "
              "2 ranks (NCCL) vs 1, batch 64 per rank, 100 timed steps after 3 warm-up; "
              f"{GPU2_TESTS}", prediction=HOROVOD_PREDICTION, **GPU2)
def test_data_parallel_on_gpu_slices(experiment):
    if (count := cuda_count()) != 1:
        pytest.skip(f"needs exactly one CUDA GPU to split into weak devices (with 2 or more, the NCCL test runs); "
                    f"this machine has {count}")
    facts = sharing_facts(torch.cuda.current_device())
    experiment.attach("MPS and MIG state", facts)
    if not mps_active():
        pytest.skip(f"needs an MPS control daemon (nvidia-cuda-mps-control -d, started by the GPU's admin) to cap "
                    f"each rank at 50% of the SMs; MIG slices would need one rank per MIG instance, which NCCL "
                    f"cannot connect peer to peer; found: {describe_sharing(facts)}")
    arm = DataParallelScaling(workers=2, batch=64, device="cuda:0", sm_percent=50)
    seeds = max(6, experiment.budget.seeds // 2)
    try:
        verdicts = judge_scaling(experiment, arm, seeds, {"GPUs": "1 (2 MPS clients at 50% SMs)", "batch": 64})
    except WorkerError as exc:
        pytest.skip(f"the 2-rank world on one GPU did not run under MPS (NCCL may refuse two ranks on one "
                    f"device): {str(exc).splitlines()[0]}")
    assert all(verdicts), verdicts


# -- GPU-4: many jobs on one GPU ---------------------------------------------------------------

GPU4 = dict(section=SECTION, question="One server with several GPUs: how do many users keep every GPU busy?",
            anchors=["NVIDIA MPS: up to +30% throughput for small jobs sharing a GPU (and -30% under memory "
                     "contention)"], timing=True)


@claim(id="GPU-4",
       statement="Several small trainings running at once on one GPU give more total throughput than the same jobs "
       "one after another, and each job takes longer than alone",
       method="4 worker processes on one GPU, each training the small conv net (batch 64, 200 timed steps after 5 "
              "warm-up) on its own data; per repetition all 4 at once vs one after another (order alternating); "
              "speedup = concurrent / sequential samples/s (coordinator's wall clock); latency ratio = a job's "
              "seconds for its timed steps when sharing / alone (the job's own clock, mean over jobs); one-sided "
              "t of each against 1.0 (a constant arm); NVML utilization sampled every 50 ms and the GPU's MPS "
              "daemon and MIG state attached (MPS, when running, serves every job)",
       prediction="speedup up to 1.3 (MPS, +30%) and down to 0.7 under memory contention; each job's latency grows "
                  "about jobs / speedup, ~3x for 4 jobs at +30%", comparisons=2, **GPU4)
def test_concurrent_jobs_share_a_gpu(experiment):
    if experiment.device.type != "cuda":
        pytest.skip("needs CUDA: several processes training on one GPU, with NVML utilization; there is no GPU here")
    facts = sharing_facts(experiment.device.index or 0)
    experiment.attach("MPS and MIG state", facts)
    arm = SharedGPUJobs()
    seeds = max(6, experiment.budget.seeds // 2)
    config = {"jobs": arm.jobs, "model": arm.model, "sharing": describe_sharing(facts)}
    verdicts = [experiment.compare(arm, Reference(1.0, metric), metric=metric, expect=Superior(), seeds=seeds,
                                   unit="", config=config, labels=(label, "1.0 (no change)"))
                for metric, label in (("speedup", "conc./seq."), ("latency_ratio", "job shared/alone"))]
    rows = attach_rows(experiment, arm, seeds, "throughput, per-job seconds and NVML utilization per repetition")
    experiment.attach("mean NVML utilization (%)",
                      {"mean_gpu_util": {m: sum(r[f"{m}_gpu_util"] for r in rows) / len(rows)
                                         for m in ("concurrent", "sequential")}})
    assert all(verdicts), verdicts


@claim(id="GPU-4",
       statement="MPS (or MIG slices) gives concurrent jobs more throughput than the GPU's default time-slicing",
       method="Needs the same 4 concurrent jobs timed with and without an MPS control daemon (or once on MIG "
              "slices); records the GPU's MPS and MIG state",
       prediction="MPS: up to +30% over time-slicing for small jobs, -30% under memory contention (NVIDIA MPS "
                  "documentation)", **GPU4)
def test_mps_beats_time_slicing(experiment):
    if experiment.device.type != "cuda":
        pytest.skip("needs CUDA and an MPS daemon that can be switched on and off between arms; there is no GPU here")
    facts = sharing_facts(experiment.device.index or 0)
    experiment.attach("MPS and MIG state", facts)
    pytest.skip(f"needs both sharing modes on one GPU: starting and stopping the MPS daemon and reconfiguring MIG "
                f"are the GPU admin's (they change the GPU for every user), not a claim's; found: "
                f"{describe_sharing(facts)}")
