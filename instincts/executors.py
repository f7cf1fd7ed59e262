"""Where a claim's trials run: in the pytest process (the default), on a Dask cluster, or as
submitit jobs (Slurm, or submitit's local executor).

``Experiment.run`` submits every arm's missing seeds of a look before it waits for any, so on a
cluster both arms of a comparison (every level of a trend) train at once. An executor is
``concurrent.futures``-shaped: ``submit(fn, *args)`` returns something with ``result(timeout)``.
Only the pytest process reads and writes the run cache; a trial sends back its JSON-able metrics
alone, so a rerun hits the cache whatever executed it. ``InProcess`` runs a task when it is
waited for, in order: numbers, cache keys and exceptions are exactly those of a plain serial run.

On a cluster a trial gets the device's *type*; the worker picks its device (a Dask worker started
per GPU with its ``CUDA_VISIBLE_DEVICES`` sees it as ``cuda``), and a CUDA trial asks for the
worker resource ``GPU=1`` (start such workers with ``dask worker ... --resources GPU=1``).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from instincts.errors import InstinctsError, InvalidArgument

EXECUTORS = ("inprocess", "dask-local", "dask", "submitit-local", "slurm")
CONNECT_TIMEOUT_S = 5.0
ALLOWED_FAILURES = 1  # a LocalCluster reruns a trial whose worker died once; a second death is an error
DEFAULT_TRIAL_TIMEOUT_S = 3600.0  # every wait ends: a hung trial is reported, not waited on forever


class TrialError(InstinctsError):
    """A trial failed on an executor: names the arm and the seeds, with the trial's traceback."""


class Pending(Protocol):
    def result(self, timeout: float | None = None) -> Any: ...


class Executor(Protocol):
    remote: bool  # trials leave this process: they get the device's type, errors are wrapped
    timeout: float | None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Pending: ...

    def close(self) -> None: ...


class _Later:
    """A task run here when its result is first asked for (so in the order the caller waits, and
    an arm that raises stops the claim before the next arm trains); its value is kept."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]):
        self.fn, self.args = fn, args
        self.done, self.value = False, None

    def result(self, timeout: float | None = None) -> Any:
        if not self.done:
            self.value, self.done = self.fn(*self.args), True
        return self.value


class InProcess:
    """Runs each task in this process, in the order it is waited for: today's serial behaviour."""

    remote = False
    timeout = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Pending:
        return _Later(fn, args)

    def close(self) -> None:
        pass


def _on_worker(path: list[str], fn: Callable[..., Any], *args: Any) -> Any:
    """A trial on a remote worker: the client's import path (claims import ``fixtures``,
    ``models``), and the trial's one torch thread (``devices.TRIAL_THREADS``: the numbers of an
    in-process run; the worker processes share the cores)."""
    for entry in reversed(path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    import torch

    from instincts.devices import TRIAL_THREADS

    torch.set_num_threads(TRIAL_THREADS)
    return fn(*args)


class _DaskPending:
    def __init__(self, future: Any):
        self.future = future

    def result(self, timeout: float | None = None) -> Any:
        from distributed import TimeoutError as DaskTimeout

        try:
            return self.future.result(timeout=timeout)
        except (DaskTimeout, TimeoutError):
            self.future.cancel()
            raise TimeoutError(f"trial still running after {timeout:g} s (--claims-trial-timeout); "
                               "cancelled") from None


class Dask:
    """Trials on a Dask cluster: a scheduler's address, or a LocalCluster of ``workers`` processes
    with one thread each.

    A lost worker (killed, out of memory) costs only time: the scheduler reruns its tasks on another
    worker, once on a LocalCluster (``ALLOWED_FAILURES``; a running scheduler keeps its own
    ``distributed.scheduler.allowed-failures``), then ``KilledWorker`` is the claim's ERROR, as is
    an error the trial raises.
    """

    remote = True

    def __init__(self, address: str | None = None, workers: int = 2, trial_timeout: float | None = None,
                 gpu: bool = False):
        from distributed import Client, LocalCluster

        self.timeout = DEFAULT_TRIAL_TIMEOUT_S if trial_timeout is None else trial_timeout
        self.resources = {"GPU": 1} if gpu else None
        self.cluster = None
        if address is None:
            import dask

            with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            dashboard_address=":0", resources=self.resources,
                                            env={"OMP_NUM_THREADS": "1"})
            address = self.cluster.scheduler_address
        self.address = address
        try:
            self.client = Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            self._close_cluster()
            raise InvalidArgument(f"--claims-dask-scheduler {address!r} did not answer within {CONNECT_TIMEOUT_S:g} s "
                                  f"({type(exc).__name__}); give a running scheduler's tcp://HOST:PORT or "
                                  "use --claims-executor dask-local") from None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Pending:
        return _DaskPending(self.client.submit(_on_worker, list(sys.path), fn, *args, pure=False,
                                               resources=self.resources))

    def close(self) -> None:
        self.client.close()
        self._close_cluster()

    def _close_cluster(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


class _SubmititPending:
    def __init__(self, job: Any):
        self.job = job

    def result(self, timeout: float | None = None) -> Any:
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.job.done():
            if deadline is not None and time.monotonic() > deadline:
                self.job.cancel()
                raise TimeoutError(f"trial still running after {timeout:g} s (--claims-trial-timeout); cancelled")
            time.sleep(0.1)
        return self.job.result()


class Submitit:
    """Trials as submitit jobs: ``local`` runs each as a process on this machine (the tested path),
    else Slurm through ``submitit.AutoExecutor`` (``--slurm-partition``; one GPU per trial on CUDA)."""

    remote = True

    def __init__(self, folder: Path, local: bool, trial_timeout: float | None = None,
                 partition: str | None = None, gpu: bool = False):
        import submitit

        self.timeout = DEFAULT_TRIAL_TIMEOUT_S if trial_timeout is None else trial_timeout
        minutes = max(1, int(self.timeout // 60) + 1)
        if local:
            self.executor = submitit.LocalExecutor(folder=str(folder))
            self.executor.update_parameters(timeout_min=minutes)
        else:
            try:
                self.executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
            except RuntimeError as exc:  # no srun here
                raise InvalidArgument(f"--claims-executor slurm: {exc} Use submitit-local on a machine without "
                                      "Slurm") from None
            self.executor.update_parameters(timeout_min=minutes, cpus_per_task=1, gpus_per_node=1 if gpu else 0,
                                            **({"slurm_partition": partition} if partition else {}))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Pending:
        return _SubmititPending(self.executor.submit(_on_worker, list(sys.path), fn, *args))

    def close(self) -> None:
        pass


def make(kind: str, scheduler: str | None = None, workers: int = 2, trial_timeout: float | None = None,
         gpu: bool = False, folder: Path | None = None, partition: str | None = None) -> Executor:
    """The executor ``--claims-executor`` names; a clear error when its extra is missing."""
    if kind not in EXECUTORS:
        raise InvalidArgument(f"--claims-executor {kind!r} is not allowed: use one of {', '.join(EXECUTORS)}")
    if trial_timeout is not None and not trial_timeout > 0:
        raise InvalidArgument(f"--claims-trial-timeout {trial_timeout!r} is not allowed: give seconds > 0")
    if kind == "inprocess":
        return InProcess()
    if kind.startswith("dask"):
        if not isinstance(workers, int) or workers < 1:
            raise InvalidArgument(f"--dask-workers {workers!r} is not allowed: give an integer >= 1")
        _need("distributed", kind, "dask")
        if kind == "dask":
            if not scheduler:
                raise InvalidArgument("--claims-executor dask needs --claims-dask-scheduler tcp://HOST:PORT "
                                      "(or use dask-local for a cluster on this machine)")
            return Dask(scheduler, trial_timeout=trial_timeout, gpu=gpu)
        return Dask(None, workers=workers, trial_timeout=trial_timeout, gpu=gpu)
    _need("submitit", kind, "slurm")
    folder = Path(folder or os.environ.get("INSTINCTS_SUBMITIT_DIR", ".instincts-cache/submitit"))
    return Submitit(folder, local=kind == "submitit-local", trial_timeout=trial_timeout, partition=partition,
                    gpu=gpu)


def _need(module: str, kind: str, extra: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise InvalidArgument(f"--claims-executor {kind} needs {module}: pip install 'instincts[{extra}]'") from None


def collect(executor: Executor, pending: Pending, label: str, seeds: list[int]) -> Any:
    """A trial's value. An error names the arm and the seeds: a remote trial's becomes a
    ``TrialError`` with the trial's traceback; an in-process one keeps its type and gets a note."""
    where = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds}"
    if not executor.remote:
        try:
            return pending.result()
        except Exception as exc:
            if hasattr(exc, "add_note"):  # Python 3.11+
                exc.add_note(f"(in {label} at {where})")
            raise
    try:
        return pending.result(executor.timeout)
    except InstinctsError:
        raise
    except Exception as exc:
        text = "".join(traceback.format_exception(exc)).strip()
        raise TrialError(f"{label} failed at {where}: {type(exc).__name__}: {exc}\n{text}") from exc
