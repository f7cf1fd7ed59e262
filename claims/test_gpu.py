"""GPU: AMD vs NVIDIA (GPU-1), one good device vs several weak ones (GPU-2), mixing vendors (GPU-3),
sharing one GPU between many users' jobs (GPU-4).

GPU-2 runs real data-parallel training (torch.distributed, DistributedDataParallel) in worker
processes that the claim starts and ends itself (fixtures/ddp.py): gloo on CPU, NCCL over the
GPUs present. GPU-4 runs independent jobs on one GPU, at once and one after another, with NVML
utilization sampled and attached.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import allure
import pytest
import torch

from claims.test_hardware import record_backend_facts
from fixtures.ddp import WorkerGroup
from instincts import Superior, claim
from instincts.experiment import RunContext
from instincts.timing import Reference

SECTION = "GPU"
HOROVOD = "Sergeev & Del Balso 2018 (Horovod): 90% scaling efficiency for ResNet-101, 68% for VGG-16 (parameter-heavy)"


# -- GPU-1 and GPU-3: both vendors -------------------------------------------------------------

@claim("GPU-1", "AMD and NVIDIA GPUs of the same class train the same models at comparable speed",
       section=SECTION, question="AMD vs NVIDIA?",
       anchors=["ROCm and CUDA builds of PyTorch run the same model code"],
       method="Needs one AMD (ROCm) and one NVIDIA (CUDA) GPU to time the same training on both; records the "
              "backend facts (CUDA/ROCm, cuDNN, driver via NVML) and the host copy bandwidth")
def test_amd_vs_nvidia(experiment):
    facts = record_backend_facts()
    pytest.skip(f"needs both vendors: an AMD GPU with a ROCm build of torch and an NVIDIA GPU with a CUDA build, "
                f"to time the same training on each; {facts}")


@claim("GPU-3", "NVIDIA and Radeon GPUs cannot train one model together: there is no common collective backend",
       section=SECTION, question="Can NVIDIA and Radeon GPUs be mixed in one machine?",
       anchors=["NCCL is NVIDIA-only, RCCL is AMD-only; torch.distributed needs one backend for the whole group",
                "SLI pairs only NVIDIA cards, CrossFire only AMD cards"],
       method="Needs an NVIDIA and an AMD GPU in one machine to try a data-parallel group across them; records "
              "the backend facts and the host copy bandwidth")
def test_mixing_nvidia_and_radeon(experiment):
    facts = record_backend_facts()
    pytest.skip(f"needs both vendors in one machine (an NVIDIA GPU for NCCL and an AMD GPU for RCCL) to try one "
                f"process group across them; {facts}")


# -- GPU-2: data-parallel scaling --------------------------------------------------------------

MODELS = ("conv", "dense")


@dataclass(frozen=True)
class DataParallelScaling:
    """Throughput of one strong worker vs a data-parallel world of ``workers`` weak ones, per model.

    CPU (same total compute): 1 process x ``workers`` threads vs ``workers`` processes x 1 thread
    (gloo), one global batch split over the ranks; efficiency = world / single throughput.
    CUDA: 1 GPU vs ``workers`` GPUs (NCCL), each GPU with the single GPU's batch (weak scaling);
    efficiency = world throughput / (``workers`` x single throughput).
    One seed = one repetition: both models, each timed in both setups, in an order that reverses
    every repetition (ABBA), so setups and models see the same machine; the processes start once
    per run, outside the timing. Metrics: ``<model>_efficiency`` and the samples/s behind it.
    """

    workers: int = 2
    batch: int = 64
    steps: int = 6
    device: str = "cpu"

    def run(self, seeds: list[int], context: RunContext) -> list[dict[str, float]]:
        cpu = self.device == "cpu"
        per_rank = self.batch // self.workers if cpu else self.batch
        out = []
        with WorkerGroup(1, backend="none", threads=self.workers if cpu else 1, device=self.device) as single, \
                WorkerGroup(self.workers, backend="gloo" if cpu else "nccl", threads=1, device=self.device) as world:
            for i, seed in enumerate(seeds):
                plan = [(model, name, group, batch) for model in MODELS
                        for name, group, batch in (("single", single, self.batch), ("world", world, per_rank))]
                row: dict[str, float] = {}
                for model, name, group, batch in (plan if i % 2 == 0 else plan[::-1]):
                    replies = group.run({"model": model, "seed": seed, "batch": batch, "steps": self.steps,
                                         "warmup": 2})
                    row[f"{model}_{name}_samples_per_s"] = _throughput(replies)
                for model in MODELS:
                    ideal = row[f"{model}_single_samples_per_s"] * (1 if cpu else self.workers)
                    row[f"{model}_efficiency"] = row[f"{model}_world_samples_per_s"] / ideal
                out.append(row)
        return remember(self, seeds, out)


def _throughput(replies: list[dict[str, Any]]) -> float:
    """Samples per second of a world: all ranks' samples over the slowest rank's time."""
    return sum(r["samples"] for r in replies) / max(r["seconds"] for r in replies)


_MEASURED: dict[Any, dict[int, dict[str, float]]] = {}  # arm -> seed -> metrics measured in this process


def remember(arm: Any, seeds: list[int], rows: list[dict[str, float]]) -> list[dict[str, float]]:
    """Keep a run's metrics for its attachment: with the run cache off, asking again would re-measure."""
    _MEASURED.setdefault(arm, {}).update(zip(seeds, rows))
    return rows


def attach_rows(experiment, arm: Any, seeds: int, name: str) -> list[dict[str, float]]:
    """Every metric of every repetition as a CSV attachment: from this run, else from the run cache."""
    wanted, memo = experiment.seeds(seeds), _MEASURED.get(arm, {})
    rows = [memo[s] for s in wanted] if all(s in memo for s in wanted) else experiment.run(arm, wanted)
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=["seed", *rows[0]])
    writer.writeheader()
    writer.writerows({"seed": s, **r} for s, r in enumerate(rows))
    allure.attach(table.getvalue(), name=name, attachment_type=allure.attachment_type.CSV)
    return rows


GPU2 = dict(section=SECTION, question="One good GPU or several weak ones?", anchors=[HOROVOD])


def judge_scaling(experiment, device: str, workers: int) -> list:
    """Efficiency < 1 for both models (one-sided t of 1 - efficiency > 0, against the constant 1.0),
    and lower for the parameter-heavy dense net (paired t of conv - dense, the same repetitions)."""
    seeds = max(6, experiment.budget.seeds // 2)
    arm = DataParallelScaling(workers=workers, device=device)
    config = {"workers": workers, "device": device}
    verdicts = [experiment.compare(Reference(1.0, f"{m}_efficiency"), arm, metric=f"{m}_efficiency",
                                   expect=Superior(), seeds=seeds, unit="", config={"model": m, **config},
                                   labels=("ideal 1.0", f"{m} eff."))
                for m in MODELS]
    verdicts.append(experiment.predicts(arm, observed="conv_efficiency", predicted="dense_efficiency",
                                        expect=Superior(), seeds=seeds, unit="", config=config))
    attach_rows(experiment, arm, seeds, "samples/s and efficiency per repetition")
    return verdicts


@claim(id="GPU-2", timing=True,
       statement="Several weak workers of the same total compute are slower than one strong one: data-parallel "
       "scaling efficiency is below 1, and lower for a parameter-heavy net than for a small conv net",
       method="torch.distributed gloo on loopback, DistributedDataParallel: 1 process x 2 threads vs 2 processes x 1 "
              "thread, same global batch 64 (32 per rank), SGD, OMP_WAIT_POLICY=PASSIVE; small conv net (25k "
              "parameters, 2.7 MFLOPs per 32x32 image) vs dense net (4.2M parameters); per repetition each model "
              "in each setup for 2 warm-up and 6 timed steps, the order reversing every repetition; efficiency = "
              "samples/s of 2 processes / samples/s of 1 process; one-sided t of 1 - efficiency against 0 per "
              "model (a constant arm), and one-sided paired t of conv - dense efficiency", **GPU2)
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

class UtilizationSampler(threading.Thread):
    """NVML GPU utilization (%) every ``period`` seconds, in the background, while a block runs."""

    def __init__(self, index: int = 0, period: float = 0.05):
        super().__init__(daemon=True)
        self.index, self.period = index, period
        self.samples: list[tuple[float, int]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception:  # no NVML: nothing to sample
            return
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(self.index)
            start = time.perf_counter()
            while not self._stop_event.is_set():
                self.samples.append((time.perf_counter() - start, pynvml.nvmlDeviceGetUtilizationRates(handle).gpu))
                time.sleep(self.period)
        finally:
            pynvml.nvmlShutdown()

    def __enter__(self) -> UtilizationSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def mean(self) -> float:
        return sum(u for _, u in self.samples) / len(self.samples) if self.samples else float("nan")


@dataclass(frozen=True)
class SharedGPUJobs:
    """``jobs`` independent small trainings on one GPU: all at once vs one after another.

    One seed = one repetition, the two modes alternating (ABBA by seed); the worker processes
    start once (CUDA context, warm-up) outside the timing. Throughput = all jobs' samples over
    the wall time of the mode, measured by the coordinator.
    """

    jobs: int = 4
    model: str = "conv"
    batch: int = 64
    steps: int = 200

    def run(self, seeds: list[int], context: RunContext) -> list[dict[str, float]]:
        out = []
        with WorkerGroup(self.jobs, backend="none", device=str(context.device), timeout=300) as group:
            for i, seed in enumerate(seeds):
                command = {"model": self.model, "seed": seed, "batch": self.batch, "steps": self.steps, "warmup": 5}
                modes = ("concurrent", "sequential") if i % 2 == 0 else ("sequential", "concurrent")
                row: dict[str, float] = {}
                for mode in modes:
                    with UtilizationSampler(context.device.index or 0) as util:
                        start = time.perf_counter()
                        if mode == "concurrent":
                            group.run(command)
                        else:
                            for r in range(self.jobs):
                                group.run(command, [r])
                        wall = time.perf_counter() - start
                    row[f"{mode}_samples_per_s"] = self.jobs * self.batch * self.steps / wall
                    row[f"{mode}_gpu_util"] = util.mean()
                row["speedup"] = row["concurrent_samples_per_s"] / row["sequential_samples_per_s"]
                out.append(row)
        return remember(self, seeds, out)


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
    allure.attach(json.dumps({"mean_gpu_util": {m: sum(r[f"{m}_gpu_util"] for r in rows) / len(rows)
                                                for m in ("concurrent", "sequential")}}, indent=2),
                  name="mean NVML utilization (%)", attachment_type=allure.attachment_type.JSON)
    assert verdict
