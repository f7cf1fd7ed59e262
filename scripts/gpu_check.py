"""``make gpu-check``: the CUDA-only evidence of the catalogue in one time-boxed run (issue 16, item 7).

Runs on a GPU machine with its own ``python3`` (no ``make setup``, no network): prerequisites first,
then CUDA/driver/NVML facts, the CUDA-only claims on the smoke budget, a slice of the standard budget,
vectorised vs loop ratios on the GPU with NVML utilization, and ``-n 4`` vs ``-n 1`` on one GPU. Every
step has its own timeout and the JSON + markdown reports are rewritten after each step, so a step that
fails or times out still leaves the others' results. Without CUDA it prints "skipped: no CUDA device"
and exits 0; ``--device cpu`` runs the same steps on a tiny scale so the orchestration is testable.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks, fixtures, instincts from this checkout (no install needed)
REQUIRED = ("torch", "pytest", "xdist", "hypothesis", "numpy", "scipy", "statsmodels", "sklearn", "matplotlib",
            "pynvml")
CUDA_ONLY = ("claims/test_batch_timing.py::test_bs2_unaligned_width_is_not_slower_on_gpu",
             "claims/test_batch_timing.py::test_bs3_peak_memory_grows_linearly_with_batch",
             "claims/test_gpu.py::test_concurrent_jobs_share_a_gpu",
             "claims/test_hardware.py::test_hw1_pinned_memory_copies_faster",
             "claims/test_lr_precision.py::test_amp_gradscaler_noninferior_on_cuda")
STANDARD_SLICE = "BS-1 or IN-1 or RC-9"
WORKERS_SUBSET = "claims/test_recipes.py"
KS = (4, 16, 64)


def missing_prerequisites(modules: Sequence[str] = REQUIRED) -> list[str]:
    """The importable names among ``modules`` that this python lacks (pynvml is nvidia-ml-py's module)."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def cuda_facts() -> dict[str, object]:
    """torch's CUDA build and device, and NVML's driver and memory facts (what is readable)."""
    import torch

    facts: dict[str, object] = {"torch": torch.__version__, "cuda_build": torch.version.cuda,
                                "cuda_available": torch.cuda.is_available(), "python": sys.version.split()[0]}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        facts |= {"name": p.name, "capability": f"{p.major}.{p.minor}", "multiprocessors": p.multi_processor_count,
                  "memory_gib": round(p.total_memory / 2**30, 1), "devices": torch.cuda.device_count(),
                  "cudnn": torch.backends.cudnn.version()}
    try:
        import pynvml

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        facts |= {"driver": pynvml.nvmlSystemGetDriverVersion(), "nvml_name": pynvml.nvmlDeviceGetName(h),
                  "nvml_memory_total_mib": pynvml.nvmlDeviceGetMemoryInfo(h).total // 2**20}
        pynvml.nvmlShutdown()
    except Exception as exc:  # NVML absent or refused: record why
        facts["nvml_error"] = f"{type(exc).__name__}: {exc}"
    return facts


def plugin_args() -> list[str]:
    """``-p instincts.plugin`` where the plugin is not installed (the GPU machine); pytest refuses it twice."""
    from importlib.metadata import entry_points

    installed = any(ep.value.startswith("instincts") for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "instincts.plugin"]


def pytest_step(args: list[str], timeout: float, workdir: Path, python: str = sys.executable) -> dict[str, object]:
    """One pytest run with private claims.json and cache, no alluredir, time-boxed; verdicts read back."""
    out = workdir / f"claims-{len(list(workdir.glob('claims-*.json')))}.json"
    cmd = [python, "-m", "pytest", *plugin_args(), "-p", "no:cacheprovider", "-q",
           "--claims-json", str(out), "--claims-cache-dir", str(workdir / "cache"), *args]
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        rc, tail = proc.returncode, (proc.stdout + proc.stderr)[-3000:]
    except subprocess.TimeoutExpired as exc:
        rc, tail = "timeout", str(exc.stdout or "")[-3000:]
    result: dict[str, object] = {"cmd": " ".join(cmd[1:]), "rc": rc, "wall_s": round(time.perf_counter() - start, 1),
                                 "tail": tail}
    if out.exists():
        result["parts"] = summarise(json.loads(out.read_text()))
    return result


def summarise(claims_json: dict) -> list[dict[str, object]]:
    """id, verdict, effect and seconds per part of a claims.json (whatever of them it holds)."""
    rows = []
    for c in claims_json.get("claims", []):
        for p in c.get("parts") or [{}]:
            rows.append({"id": c.get("id"), "outcome": c.get("outcome"), "verdict": p.get("verdict", c.get("verdict")),
                         "effect": p.get("effect"), "seconds": c.get("duration_s")})
    return rows


def vectorised_ratios(device: str, ks: Sequence[int], epochs: int) -> dict[str, object]:
    """Loop time / vectorised time per K on ``device`` (benchmarks.training's models and timer) with NVML
    utilization sampled during the trainings."""
    from benchmarks.training import MODELS, strategies_for
    from fixtures.digits import digits_split
    from fixtures.gpu_utilization import UtilizationSampler
    from instincts import Recipe, fit

    x, y, xt, yt = digits_split()
    recipe = Recipe(batch_size=32, lr=1e-3, epochs=epochs)
    rows = []
    for label, make in MODELS.values():
        for k in ks:
            seconds, util = {}, {}
            for strategy in strategies_for(make()):
                fit(make, [0, 1], (x, y), Recipe(batch_size=32, lr=1e-3, epochs=1), device=device, strategy=strategy)
                with UtilizationSampler() as sampler:
                    start = time.perf_counter()
                    fit(make, list(range(k)), (x, y), recipe, tests={"test": (xt, yt)}, device=device,
                        strategy=strategy)
                    seconds[strategy] = round(time.perf_counter() - start, 3)
                util[strategy] = round(sampler.mean(), 1) if sampler.samples else None
            rows.append({"model": label, "k": k, "seconds": seconds, "gpu_util_mean": util,
                         "ratio": {s: round(seconds["loop"] / t, 2) for s, t in seconds.items() if s != "loop"}})
    return {"epochs": epochs, "rows": rows}


def render_markdown(report: dict) -> str:
    """The report as markdown: facts, then one section per step."""
    facts = report.get("facts", {})
    lines = [f"# GPU check: {facts.get('name', report.get('device', '?'))}", "",
             f"Run {report.get('started', '?')}, total {report.get('wall_s', '?')} s.", "", "## Facts", ""]
    lines += [f"- {k}: {v}" for k, v in facts.items()]
    for name, step in report.get("steps", {}).items():
        lines += ["", f"## {name}", "", f"status: {step.get('status')}, {step.get('wall_s', '?')} s"]
        result = step.get("result") or {}
        if "error" in step:
            lines.append(f"error: {step['error']}")
        runs = result.get("runs", {"": result}) if isinstance(result, dict) else {}
        for label, run in runs.items():
            if not isinstance(run, dict):
                continue
            if label:
                lines.append(f"\n{label}: rc {run.get('rc')}, wall {run.get('wall_s')} s")
            if run.get("parts"):
                lines += ["", "| id | verdict | effect | s |", "|---|---|---|---|"]
                lines += [f"| {p['id']} | {p['verdict'] or p['outcome']} | {p['effect']} | {p['seconds']} |"
                          for p in run["parts"]]
        for row in result.get("rows", []) if isinstance(result, dict) else []:
            lines.append(f"- {row['model']} K={row['k']}: loop/vectorised {row['ratio']}, "
                         f"seconds {row['seconds']}, NVML util % {row['gpu_util_mean']}")
        if isinstance(result, dict) and "speedup" in result:
            lines.append(f"- -n 4 vs -n 1 speedup: {result['speedup']}")
    return "\n".join(lines) + "\n"


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "unknown"


class Run:
    """The report being built; written to disk after every step."""

    def __init__(self, out_dir: Path, device: str, budget_s: float):
        self.out_dir, self.deadline = out_dir, time.monotonic() + budget_s
        self.start = time.monotonic()
        self.report: dict = {"device": device, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "steps": {}}

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def step(self, name: str, fn: Callable[[float], object], timeout: float) -> None:
        box = min(timeout, self.left())
        if box < 5:
            self.report["steps"][name] = {"status": "skipped: overall budget spent"}
        else:
            start = time.perf_counter()
            entry: dict = {}
            try:
                entry = {"status": "ok", "result": fn(box)}
            except Exception as exc:  # record and go on: one broken step must not lose the others
                entry = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            entry["wall_s"] = round(time.perf_counter() - start, 1)
            self.report["steps"][name] = entry
        self.write()

    def write(self) -> Path:
        from instincts.cache import write_atomic  # after sys.path holds this checkout

        self.report["wall_s"] = round(time.monotonic() - self.start, 1)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        stem = safe_name(str(self.report.get("facts", {}).get("name", self.report["device"])))
        path = self.out_dir / f"{stem}.json"
        write_atomic(path, json.dumps(self.report, indent=1, default=str).encode(), mode=0o644)  # whole, even if killed
        write_atomic(self.out_dir / f"{stem}.md", render_markdown(self.report).encode(), mode=0o644)
        return path


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                   help="cpu: a dry run of every step at tiny scale (tests the orchestration)")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "gpu")
    p.add_argument("--budget-s", type=float, default=470.0, help="overall wall-clock budget (default 470 s)")
    args = p.parse_args(argv)
    missing = missing_prerequisites()
    if args.device == "cuda" and shutil.which("nvidia-smi") is None and "torch" in missing:
        print("skipped: no CUDA device (no nvidia-smi, and this python has no torch)")
        return 0
    if missing:
        print(f"gpu-check: missing Python modules {missing} for {sys.executable}; install them (nvidia-ml-py "
              "provides pynvml, pytest-xdist provides xdist)", file=sys.stderr)
        return 2
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("skipped: no CUDA device")
        return 0
    dry = args.device == "cpu"
    run = Run(args.out, args.device, args.budget_s)
    run.report["facts"] = cuda_facts() | ({"name": "cpu-dry-run"} if dry else {})
    run.write()
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    device = ["--claims-device", args.device]
    cuda_only = ["-k", "RC-4 and bf16"] if dry else list(CUDA_ONLY)
    run.step("CUDA-only claims (smoke)",
             lambda t: pytest_step([*cuda_only, *device, "--budget", "smoke"], t, work), 150)
    slice_args = (["claims/test_lr_precision.py", "-k", "bf16"] if dry
                  else ["claims", "-k", STANDARD_SLICE, "-m", "not timing"])
    run.step("standard budget slice", lambda t: pytest_step([*slice_args, *device, "--budget", "standard", "-n", "4"],
                                                            t, work), 150)
    run.step("vectorised vs loop", lambda t: vectorised_ratios(args.device, (2,) if dry else KS, 1 if dry else 3), 70)

    def workers(t: float) -> dict:
        subset = ["claims/test_lr_precision.py", "-k", "RC-4 and Adam"] if dry else [WORKERS_SUBSET]
        runs = {f"-n {n}": pytest_step([*subset, *device, "--budget", "smoke", "-m", "not timing", "-n", str(n)],
                                       t / 2, work / f"n{n}") for n in (1, 4)}
        one, four = runs["-n 1"]["wall_s"], runs["-n 4"]["wall_s"]
        return {"runs": runs, "speedup": round(one / four, 2) if four else None}

    run.step("-n 4 vs -n 1 on one GPU", workers, 90)
    path = run.write()
    print(f"gpu-check: {path} and {path.with_suffix('.md')} ({run.report['wall_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
