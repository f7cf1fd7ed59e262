"""scripts/gpu_check.py without a GPU: it skips cleanly, names what is missing, renders its report."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


def test_skips_without_cuda():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: the check would run")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_check.py")], capture_output=True, text=True)
    assert proc.returncode == 0 and "skipped: no CUDA device" in proc.stdout


def test_missing_prerequisites_names_them():
    assert gpu_check.missing_prerequisites(["json", "no_such_module_xyz"]) == ["no_such_module_xyz"]


def test_markdown_renders_a_sample():
    report = {"device": "cuda", "started": "now", "wall_s": 3.0, "facts": {"name": "NVIDIA H200", "driver": "580"},
              "steps": {"vectorised vs loop": {"status": "ok", "wall_s": 1.0, "result": {"rows": [
                  {"model": "MLP", "k": 4, "seconds": {"loop": 2.0, "bmm": 1.0}, "gpu_util_mean": {"loop": 10.0},
                   "ratio": {"bmm": 2.0}}]}},
                        "claims": {"status": "ok", "wall_s": 2.0, "result": {"rc": 0, "parts": [
                            {"id": "BS-1", "outcome": "passed", "verdict": "SUPPORTED", "effect": 0.1, "seconds": 4}]}},
                        "late": {"status": "skipped: overall budget spent"}}}
    md = gpu_check.render_markdown(report)
    assert md.startswith("# GPU check: NVIDIA H200")
    assert "| BS-1 | SUPPORTED | 0.1 | 4 |" in md and "MLP K=4: loop/vectorised {'bmm': 2.0}" in md
    assert "skipped: overall budget spent" in md
