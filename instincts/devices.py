"""Device choice and hardware facts (torch, CUDA, NVML), quiet when there is no GPU."""

from __future__ import annotations

import os
import platform
from functools import lru_cache

import torch


def worker_count() -> int:
    """Number of pytest-xdist workers sharing this machine (1 when not under xdist)."""
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)


def worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def configure_threads() -> int:
    """One torch thread per xdist worker on CPU; otherwise the cores split evenly.

    Several workers each using every core oversubscribe the CPU and throughput collapses.
    """
    cores = os.cpu_count() or 1
    threads = max(1, cores // worker_count())
    torch.set_num_threads(threads)
    return threads


def choose_device(requested: str | None = None) -> torch.device:
    """The requested device, else CUDA when present (one GPU per worker, round robin), else CPU."""
    if requested:
        dev = torch.device(requested)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {requested!r} requested but CUDA is not available; use 'cpu'")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda", worker_index() % torch.cuda.device_count())
    return torch.device("cpu")


@lru_cache(maxsize=1)
def nvml_facts() -> dict[str, str]:
    """GPU name, driver and memory through NVML; empty when there is no NVIDIA driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no driver, no library, no GPU: nothing to report
        return {}
    try:
        facts = {"nvml.driver": _text(pynvml.nvmlSystemGetDriverVersion()),
                 "nvml.gpu_count": str(pynvml.nvmlDeviceGetCount())}
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
            facts[f"nvml.gpu{i}"] = f"{_text(pynvml.nvmlDeviceGetName(handle))}, {mem.total / 2**30:.0f} GiB"
        return facts
    except Exception as exc:  # a partial driver: say so instead of failing the run
        return {"nvml.error": repr(exc)}
    finally:
        pynvml.nvmlShutdown()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def environment() -> dict[str, str]:
    """Facts recorded in every report: versions, backend, hardware."""
    import numpy
    import scipy

    facts = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "cpu_count": str(os.cpu_count()),
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
