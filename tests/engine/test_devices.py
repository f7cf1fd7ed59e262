"""Device planning without a GPU: a fake NVML table stands in for the machine.

The plan must spread xdist workers over GPUs by free memory (several per GPU allowed), respect
CUDA_VISIBLE_DEVICES, and reach each worker through xdist's workerinput from one controller plan.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
import torch

from instincts import devices, plugin
from instincts.devices import Gpu, plan_workers, visible_gpus

GiB = 1 << 30


def table(*free_gib: float) -> list[Gpu]:
    """A machine with one GPU per entry, ``free_gib`` GiB free of 80."""
    return [Gpu(i, f"GPU-{i:x}{i:x}aa-uuid", "Fake H100", int(f * GiB), 80 * GiB) for i, f in enumerate(free_gib)]


@pytest.mark.parametrize("free,workers,expected", [
    ((80, 80), 4, [0, 1, 0, 1]),  # equal GPUs share evenly
    ((80, 80, 80, 80), 2, [0, 1]),  # fewer workers than GPUs: one each, no doubling up
    ((40, 20), 3, [0, 0, 1]),  # twice the free memory, twice the workers
    ((10, 70), 4, [1, 1, 1, 1]),  # 70/4 = 17.5 GiB a worker still beats 10 on the other GPU
    ((0.5, 10), 3, [1, 1, 1]),  # a full GPU (under 1 GiB free) takes no worker
    ((0.5, 0.2), 3, [0, 0, 1]),  # every GPU full: use them all (still by free memory) rather than none
    ((80,), 5, [0, 0, 0, 0, 0]),  # several workers per GPU
])
def test_plan_spreads_workers_by_free_memory(free, workers, expected):
    assert plan_workers(workers, table(*free)) == expected


@pytest.mark.parametrize("workers,gpus,match", [
    (0, table(80), r"n_workers=0 is not allowed: give an integer >= 1"),
    (2, [], r"gpus=\[\] is not allowed"),
])
def test_plan_rejects_bad_input(workers, gpus, match):
    with pytest.raises(ValueError, match=match):
        plan_workers(workers, gpus)


@pytest.mark.parametrize("env,expected", [
    (None, [0, 1, 2, 3]),  # unset: every GPU
    ("", []),  # set but empty: none
    ("2,0", [2, 0]),  # CUDA's order is the variable's order: cuda:0 is NVML's GPU 2
    ("GPU-33aa,1", [3, 1]),  # UUID prefixes
    ("1,7,2", [1]),  # CUDA stops at the first entry it cannot match
    ("1,1", [1]),  # a repeated GPU is invalid too
    ("GPU-", []),  # a prefix matching several GPUs is ambiguous
])
def test_visible_gpus_follow_cuda_visible_devices(env, expected):
    assert [g.index for g in visible_gpus(table(80, 80, 80, 80), env)] == expected


def test_mig_devices_cannot_be_planned():
    assert visible_gpus(table(80), "MIG-5c1b1d5e-1a2b") is None


def test_plan_indices_are_positions_among_visible_gpus(monkeypatch):
    """With CUDA_VISIBLE_DEVICES=3,1 the freer GPU 1 is cuda:1, and it gets the workers."""
    monkeypatch.setattr(devices, "read_gpus", lambda: table(80, 70, 80, 5))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    assert devices.plan_cuda(3) == [1, 1, 1]


def test_no_plan_without_nvml_or_with_another_device_order(monkeypatch):
    monkeypatch.setattr(devices, "read_gpus", lambda: [])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    assert devices.plan_cuda(2) is None
    monkeypatch.setattr(devices, "read_gpus", lambda: table(80, 80))
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")  # CUDA's indices need not be NVML's
    assert devices.plan_cuda(2) is None


def test_pin_device_order_keeps_the_users_choice(monkeypatch):
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    devices.pin_device_order()
    assert devices.os.environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
    devices.pin_device_order()
    assert devices.os.environ["CUDA_DEVICE_ORDER"] == "FASTEST_FIRST"


def fake_pynvml(free_gib: list[float]) -> SimpleNamespace:
    """The slice of the pynvml API that read_gpus uses, over a made-up table."""
    return SimpleNamespace(
        nvmlInit=lambda: None, nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: len(free_gib),
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(free=int(free_gib[h] * GiB), total=80 * GiB),
        nvmlDeviceGetUUID=lambda h: f"GPU-{h}".encode(),
        nvmlDeviceGetName=lambda h: b"Fake H100")


def test_read_gpus_from_nvml(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([12, 40]))
    assert devices.read_gpus() == [Gpu(0, "GPU-0", "Fake H100", 12 * GiB, 80 * GiB),
                                   Gpu(1, "GPU-1", "Fake H100", 40 * GiB, 80 * GiB)]


def test_nvml_facts_for_the_report(monkeypatch):
    fake = fake_pynvml([12, 40])
    fake.nvmlSystemGetDriverVersion = lambda: b"560.35"
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    devices.nvml_facts.cache_clear()
    try:
        assert devices.nvml_facts() == {"nvml.driver": "560.35", "nvml.gpu_count": "2",
                                        "nvml.gpu0": "Fake H100, 80 GiB", "nvml.gpu1": "Fake H100, 80 GiB"}
    finally:
        devices.nvml_facts.cache_clear()


def test_read_gpus_without_a_driver(monkeypatch):
    def no_driver():
        raise RuntimeError("NVML Shared Library Not Found")

    monkeypatch.setitem(sys.modules, "pynvml", SimpleNamespace(nvmlInit=no_driver))
    assert devices.read_gpus() == []


@pytest.fixture
def two_gpus(monkeypatch):
    """torch believes there are two CUDA devices (nothing is ever allocated on them here)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.mark.parametrize("requested,planned,worker,expected", [
    (None, 1, "gw0", "cuda:1"),  # the controller's plan wins
    ("cuda", 1, "gw0", "cuda:1"),
    ("auto", None, "gw3", "cuda:1"),  # no plan (no NVML): round robin by worker
    (None, 5, "gw2", "cuda:0"),  # a plan index that is not visible: round robin
    ("cuda:0", 1, "gw1", "cuda:0"),  # an explicit GPU: every worker there
    ("cpu", 1, "gw0", "cpu"),
])
def test_choose_device_with_cuda(two_gpus, monkeypatch, requested, planned, worker, expected):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    assert devices.choose_device(requested, planned) == torch.device(expected)


@pytest.mark.parametrize("requested,match", [
    ("cuda:2", r"'cuda:2' requested but only 2 CUDA devices are visible"),
    ("tpu-ish", r"--claims-device 'tpu-ish' is not a torch device: use auto, cpu, cuda or cuda:N"),
])
def test_choose_device_rejects_bad_devices(two_gpus, requested, match):
    with pytest.raises(ValueError, match=match):
        devices.choose_device(requested)


def test_choose_device_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.choose_device(None, 1) == torch.device("cpu")
    with pytest.raises(ValueError, match=r"'cuda' requested but CUDA is not available"):
        devices.choose_device("cuda")


def test_controller_hands_each_worker_its_planned_gpu(two_gpus, monkeypatch):
    """One NVML plan for the run (read once, before any worker holds memory), one entry per worker."""
    calls = []

    def plan(n):
        calls.append(n)
        return [0, 1, 1]

    monkeypatch.setattr(devices, "plan_cuda", plan)
    config = SimpleNamespace(stash=pytest.Stash(), getoption=lambda name: None)
    nodes = [SimpleNamespace(config=config, workerinput={"workerid": f"gw{i}", "workercount": 3}) for i in range(3)]
    for node in nodes:
        plugin.pytest_configure_node(node)
    assert calls == [3]
    assert [n.workerinput[plugin.PLANNED_GPU] for n in nodes] == [0, 1, 1]


def test_controller_plans_nothing_for_an_explicit_device(two_gpus, monkeypatch):
    monkeypatch.setattr(devices, "plan_cuda", lambda n: pytest.fail("no plan for an explicit device"))
    config = SimpleNamespace(stash=pytest.Stash(), getoption=lambda name: "cuda:0")
    node = SimpleNamespace(config=config, workerinput={"workerid": "gw0", "workercount": 2})
    plugin.pytest_configure_node(node)
    assert plugin.PLANNED_GPU not in node.workerinput


def test_one_torch_thread_per_worker_on_two_cores(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        assert devices.configure_threads() == 1
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "1")
        assert devices.configure_threads() == 2
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a shared machine: the user asks for fewer
        assert devices.configure_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "8")  # never more than the cores
        assert devices.configure_threads() == 2
    finally:
        torch.set_num_threads(before)
