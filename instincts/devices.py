"""Device choice and hardware facts (torch, CUDA, NVML), quiet when there is no GPU.

Under ``pytest -n N`` every worker is its own process. On CPU each gets ``cores // N`` torch threads
(default threads under ``-n 2`` made 16 seeds 4.5x slower than serial: the workers fought for the
cores). On CUDA the controller reads NVML once, before any worker has touched a GPU, and plans
which GPU each worker trains on (``plan_workers``: by free memory, several workers per GPU allowed,
since claims train small models); the plan travels to the workers with xdist's ``workerinput``.
Planning in the controller, not in each worker, keeps the plan from changing as the first workers
start allocating memory. ``CUDA_VISIBLE_DEVICES`` is respected (``visible_gpus``).

torch is imported by the functions that need it, not with the module: the plugin plans GPUs
through NVML alone and must not load torch into a pytest run that has no claims.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from instincts.errors import InvalidArgument

if TYPE_CHECKING:
    import torch

MIN_FREE_BYTES = 1 << 30  # a GPU with less free memory than this gets no worker while another has more


def worker_count() -> int:
    """Number of pytest-xdist workers sharing this machine (1 when not under xdist)."""
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)


def worker_index(worker: str | None = None) -> int:
    """This xdist worker's number ("gw3" -> 3; 0 when not under xdist), or that of ``worker``."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0") if worker is None else worker
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


TRIAL_THREADS = 1  # torch threads a claim trains with, whatever -n: see configure_threads


def _cores_per_worker() -> int:
    """The cores split evenly over xdist workers, at most ``OMP_NUM_THREADS`` when that is set."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = max(1, cores // worker_count())
    asked = os.environ.get("OMP_NUM_THREADS", "")
    return min(threads, int(asked)) if asked.isdigit() and int(asked) >= 1 else threads


def configure_threads(trial_threads: int | None = None) -> int:
    """Torch threads for this process; ``trial_threads`` for a claim that trains, None for the rest.

    A claim trains with ``trial_threads`` (``--claims-threads``, default ``TRIAL_THREADS`` = 1): the
    thread count changes float summation order in conv and matmul kernels and a trained net amplifies
    the last bit, so with the cores split over workers the numbers depended on ``-n`` (stop 24: IN-6's
    effect +22.8pp serial on 2 threads, +27.3pp on 1; RC-12 flipped a verdict; ``benchmarks.suite``
    lists every difference). With one thread a serial run, ``-n W``, a Dask worker and the baseline
    agree, and ``-n auto`` uses the cores.

    Everything else (timing claims, which measure the machine, and tests that use torch without a
    claim) gets the cores split evenly over xdist workers (one each on 2 cores under ``-n 2``), or
    fewer when ``OMP_NUM_THREADS`` asks for fewer: several workers each using every core oversubscribe
    the CPU, and on a busy machine (2 cores, load ~10) 12 digits-MLP seeds at batch 3 trained 10-50x
    slower with 2 threads than with 1, the threads spinning at each tiny op's barrier.
    """
    threads = _cores_per_worker() if trial_threads is None else trial_threads
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


@dataclass(frozen=True)
class Gpu:
    """One physical GPU as NVML sees it (index in NVML's PCI-bus order)."""

    index: int
    uuid: str
    name: str
    free: int  # bytes
    total: int  # bytes


@contextlib.contextmanager
def _nvml() -> Iterator[Any]:
    """pynvml, initialised for the block (and shut down after); None without a driver, library or GPU."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no driver, no library, no GPU
        yield None
        return
    try:
        yield pynvml
    finally:
        pynvml.nvmlShutdown()


def _gpus(nvml: Any) -> list[Gpu]:
    gpus = []
    for i in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(i)
        mem = nvml.nvmlDeviceGetMemoryInfo(handle)
        gpus.append(Gpu(i, _text(nvml.nvmlDeviceGetUUID(handle)), _text(nvml.nvmlDeviceGetName(handle)),
                        int(mem.free), int(mem.total)))
    return gpus


def read_gpus() -> list[Gpu]:
    """Every GPU NVML lists, with its free memory now; empty when NVML or its driver is missing."""
    with _nvml() as nvml:
        if nvml is None:
            return []
        try:
            return _gpus(nvml)
        except Exception:  # a partial driver: plan without NVML (round robin) rather than fail the run
            return []


def visible_gpus(gpus: Sequence[Gpu], cuda_visible_devices: str | None) -> list[Gpu] | None:
    """The GPUs CUDA will show, in CUDA's order (position = the ``cuda:N`` index); None when unknown.

    ``cuda_visible_devices`` is the environment variable's value: unset shows every GPU; entries are
    NVML indices or UUID prefixes ("GPU-3f2a..."), and CUDA stops at the first entry it cannot
    match, as here. MIG entries ("MIG-...") cannot be matched to NVML's whole-GPU table, so the
    result is None and the caller falls back to round robin over what torch reports.
    """
    if cuda_visible_devices is None:
        return list(gpus)
    shown: list[Gpu] = []
    for entry in (e.strip() for e in cuda_visible_devices.split(",")):
        if entry.startswith("MIG-"):
            return None
        if entry.isdigit():
            match = [g for g in gpus if g.index == int(entry)]
        else:
            match = [g for g in gpus if entry and g.uuid.startswith(entry)] if entry.startswith("GPU-") else []
        if len(match) != 1 or match[0] in shown:
            break
        shown.append(match[0])
    return shown


def plan_workers(n_workers: int, gpus: Sequence[Gpu], min_free: int = MIN_FREE_BYTES) -> list[int]:
    """For each worker, the position (``cuda:N``) of the GPU it trains on: spread by free memory.

    Each worker in turn goes to the GPU with the most free memory per worker already there
    (``free / (workers + 1)``; ties to the lower index), so equal GPUs share workers evenly and a
    GPU with twice the free memory takes about twice the workers. GPUs under ``min_free`` take none
    unless every GPU is under it (then all of them are used: a full machine is the user's call).
    """
    if n_workers < 1:
        raise InvalidArgument(f"n_workers={n_workers!r} is not allowed: give an integer >= 1")
    if not gpus:
        raise InvalidArgument("gpus=[] is not allowed: plan_workers needs at least one GPU")
    usable = [i for i, g in enumerate(gpus) if g.free >= min_free] or list(range(len(gpus)))
    counts = dict.fromkeys(usable, 0)
    plan = []
    for _ in range(n_workers):
        pos = max(usable, key=lambda i: (gpus[i].free / (counts[i] + 1), -i))
        counts[pos] += 1
        plan.append(pos)
    return plan


def pin_device_order() -> None:
    """Number CUDA devices in PCI-bus order, as NVML does, unless the user chose an order.

    Must run before CUDA initialises (the first ``torch.cuda`` call); workers inherit it.
    """
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")


def plan_cuda(n_workers: int) -> list[int] | None:
    """The controller's plan for this machine (``plan_workers`` on NVML's table), or None without one.

    NVML numbers GPUs in PCI-bus order; CUDA does too after ``pin_device_order``. When the user chose
    another ``CUDA_DEVICE_ORDER`` the indices cannot be matched: None, and workers use round robin.
    """
    if os.environ.get("CUDA_DEVICE_ORDER", "PCI_BUS_ID") != "PCI_BUS_ID":
        return None
    gpus = visible_gpus(read_gpus(), os.environ.get("CUDA_VISIBLE_DEVICES"))
    return plan_workers(n_workers, gpus) if gpus else None


def choose_device(requested: str | None = None, planned: int | None = None) -> torch.device:
    """The device this process trains on.

    ``requested`` (``--claims-device``): "cpu", "cuda:N" (every worker on that GPU), or "cuda"/"auto"/
    None for automatic: CUDA when present, else CPU. Automatic CUDA takes ``planned`` (this worker's
    GPU from the controller's ``plan_cuda``), else round robin over the visible GPUs by worker index.
    """
    import torch

    if requested not in (None, "", "auto"):
        try:
            dev = torch.device(requested)
        except RuntimeError:
            raise InvalidArgument(f"--claims-device {requested!r} is not a torch device: use auto, cpu, cuda or "
                                  "cuda:N") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise InvalidArgument(f"device {requested!r} requested but CUDA is not available; use 'cpu'")
        if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InvalidArgument(f"device {requested!r} requested but only {torch.cuda.device_count()} CUDA devices "
                                  "are visible (CUDA_VISIBLE_DEVICES); use cuda:0 .. "
                                  f"cuda:{torch.cuda.device_count() - 1}")
        if dev.type != "cuda" or dev.index is not None:
            return dev
    elif not torch.cuda.is_available():
        return torch.device("cpu")
    count = torch.cuda.device_count()
    index = planned if planned is not None and 0 <= planned < count else worker_index() % count
    return torch.device("cuda", index)


@lru_cache(maxsize=1)
def nvml_facts() -> dict[str, str]:
    """GPU name, driver and memory through NVML; empty when there is no NVIDIA driver."""
    with _nvml() as nvml:
        if nvml is None:
            return {}
        try:
            facts = {"nvml.driver": _text(nvml.nvmlSystemGetDriverVersion()),
                     "nvml.gpu_count": str(nvml.nvmlDeviceGetCount())}
            for gpu in _gpus(nvml):
                facts[f"nvml.gpu{gpu.index}"] = f"{gpu.name}, {gpu.total / 2**30:.0f} GiB"
            return facts
        except Exception as exc:  # a partial driver: say so instead of failing the run
            return {"nvml.error": repr(exc)}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def cpu_model() -> str:
    """The processor's model name (/proc/cpuinfo on Linux), "unknown" where none is given."""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip() or "unknown"
    return platform.processor() or "unknown"


def environment() -> dict[str, str]:
    """Facts recorded in every report: versions, backend, hardware."""
    import numpy
    import scipy
    import torch

    facts = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "cpu_count": str(os.cpu_count()),
        "cpu": cpu_model(),
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "platform": platform.platform(),
        "cuda": str(torch.version.cuda or "none"),
        "hip": str(getattr(torch.version, "hip", None) or "none"),
        "cudnn": str(torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else "none"),
        "cuda_available": str(torch.cuda.is_available()),
    }
    if torch.cuda.is_available():
        facts["gpu"] = torch.cuda.get_device_name(0)
    facts.update(nvml_facts())
    return facts
