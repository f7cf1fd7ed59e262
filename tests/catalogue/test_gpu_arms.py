"""The GPU claims' apparatus (GPU-2..4), testable without a GPU: the arithmetic as pure functions, the
CPU accounting that tells a busy machine, and the process orchestration with CPU stand-ins (gloo on
CPU for the all-reduce worlds, CPU jobs for the shared-GPU jobs)."""

import os

import pytest
import torch

from fixtures.arms.gpu import (
    CollectiveBandwidth,
    DataParallelScaling,
    SharedGPUJobs,
    abba,
    bus_bandwidth,
    efficiency,
    throughput,
)
from fixtures.ddp import (
    WorkerError,
    WorkerGroup,
    busy_cpu_seconds,
    cores_short,
    foreign_cores,
    process_cpu_ticks,
    usable_cores,
)
from fixtures.gpu_utilization import describe_sharing, mps_active, sharing_facts
from fixtures.scaling import contention_checks
from instincts import InvalidArgument, RunContext
from instincts.budget import BUDGETS

CPU = RunContext(BUDGETS["smoke"], torch.device("cpu"))


def test_efficiency_is_world_over_workers_times_single():
    assert efficiency(180.0, 100.0, 2) == pytest.approx(0.9)
    assert throughput([{"samples": 100, "seconds": 1.0}, {"samples": 100, "seconds": 2.0}]) == 100.0
    with pytest.raises(InvalidArgument, match="workers=0"):
        efficiency(1.0, 1.0, 0)
    with pytest.raises(InvalidArgument, match="single_samples_per_s=0"):
        efficiency(1.0, 0, 2)


def test_bus_bandwidth_follows_nccl_tests():
    assert bus_bandwidth(1e9, 1.0, 2) == pytest.approx(1.0)  # a 2-rank ring sends each byte once
    assert bus_bandwidth(1e9, 1.0, 4) == pytest.approx(1.5)  # 2(n-1)/n
    with pytest.raises(InvalidArgument, match="ranks=1"):
        bus_bandwidth(1e9, 1.0, 1)


def test_cores_short_counts_what_other_processes_took():
    assert foreign_cores(busy=3.0, ours=2.0, wall=1.0) == pytest.approx(1.0)
    assert foreign_cores(busy=1.99, ours=2.0, wall=1.0) == 0.0  # tick rounding never goes negative
    assert cores_short(2, 0.1, 2) == pytest.approx(0.1) and cores_short(2, 1.0, 4) == 0.0
    with pytest.raises(ValueError, match="wall=0"):
        foreign_cores(1.0, 1.0, 0.0)
    assert abba([1, 2, 3], 0) == [1, 2, 3] and abba([1, 2, 3], 1) == [3, 2, 1]


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs Linux /proc")
def test_cpu_counters_read_from_proc():
    assert process_cpu_ticks(os.getpid()) >= 0 and busy_cpu_seconds() > 0 and usable_cores() >= 1
    assert process_cpu_ticks(2**31 - 1) is None


def test_contention_is_required_on_cpu_only():
    cpu = contention_checks(DataParallelScaling(device="cpu"), "conv eff.")
    assert [c.metric for c in cpu] == ["contention_measured", "cores_short"] and cpu[1].arms == ("conv eff.",)
    assert contention_checks(DataParallelScaling(device="cuda"), "arm") == []
    with pytest.raises(InvalidArgument, match="workers=1"):
        DataParallelScaling(workers=1)
    with pytest.raises(InvalidArgument, match="sm_percent=150"):
        DataParallelScaling(sm_percent=150)


def test_sharing_facts_without_a_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_MPS_PIPE_DIRECTORY", str(tmp_path))
    assert not mps_active()
    (tmp_path / "control").touch()
    assert mps_active()
    facts = sharing_facts()
    assert facts["mps_daemon"] and "MPS daemon running" in describe_sharing(facts)
    assert facts["mig_mode"] in ("on", "off", "not supported") or facts["mig_mode"].startswith("unknown")


def test_worker_group_rejects_bad_env_and_commands():
    with pytest.raises(ValueError, match="env="):
        WorkerGroup(1, backend="none", env={"X": 1})
    group = WorkerGroup(1, backend="none", timeout=120)
    with pytest.raises(WorkerError, match="cmd='nope' is not allowed"):
        group.run({"cmd": "nope"})


def test_scaling_arm_runs_a_gloo_world_on_cpu():
    """The orchestration of GPU-2 with a tiny workload: every metric the claim and its checks read."""
    rows = DataParallelScaling(batch=4, steps=2, warmup=1).run([0], CPU)
    for row in rows:
        for m in ("conv", "dense"):
            assert row[f"{m}_efficiency"] == pytest.approx(
                row[f"{m}_world_samples_per_s"] / (2 * row[f"{m}_single_samples_per_s"]))
        assert row["cores_short"] >= 0 and row["contention_measured"] in (0.0, 1.0)


def test_collective_arm_checks_sums_with_a_cpu_stand_in():
    """GPU-3's two worlds, both gloo on CPU here (the claim runs NCCL vs gloo on CUDA tensors)."""
    rows = CollectiveBandwidth(mib=1, iters=2, warmup=1, device="cpu", native="gloo").run([0], CPU)
    assert all(r["native_correct"] == r["host_correct"] == 1.0 and r["native_over_host"] > 0 for r in rows)


def test_shared_jobs_report_throughput_and_latency_with_a_cpu_stand_in():
    rows = SharedGPUJobs(jobs=2, batch=4, steps=2, warmup=1).run([0], CPU)
    for row in rows:
        assert row["speedup"] > 0 and row["latency_ratio"] > 0
        assert row["latency_ratio"] == pytest.approx(row["concurrent_job_seconds"] / row["sequential_job_seconds"])
