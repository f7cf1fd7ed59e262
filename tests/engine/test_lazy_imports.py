"""The plugin loads lazily: importing instincts, ``pytest --version`` and a run without claims leave
torch, scipy, statsmodels and matplotlib unloaded (they cost seconds at every pytest start-up).

Each check runs in a fresh interpreter, since this process has long imported them all.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import instincts

HEAVY = ("torch", "scipy", "statsmodels", "matplotlib")


def loaded_after(code: str, cwd: Path | None = None) -> list[str]:
    """The heavy modules in sys.modules after ``code`` runs in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["instincts", "instincts.plugin"])
def test_importing_the_package_or_the_plugin_loads_nothing_heavy(module):
    assert loaded_after(f"import {module}") == []


def test_pytest_version_loads_nothing_heavy():
    assert loaded_after("import pytest\npytest.main(['--version'])") == []


def test_a_run_without_claims_loads_nothing_heavy(tmp_path: Path):
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
    code = "import pytest\nassert pytest.main(['-q', '-p', 'no:cacheprovider', 'test_plain.py']) == 0"
    assert loaded_after(code, cwd=tmp_path) == []


def test_the_public_api_is_spelled_out():
    """``__all__`` lists exactly the lazily exported names (tools read it statically)."""
    exported = {name for names in instincts._EXPORTS.values() for name in names}
    assert set(instincts.__all__) == exported | {"__version__"}
    assert instincts.__version__ and instincts.Superior.__module__ == "instincts.expect"


def test_claim_and_train_are_functions_however_their_modules_were_imported():
    code = ("import instincts.marks\nfrom instincts import claim\n"
            "def test_x(): pass\n"
            "assert claim('X-1', 'a statement')(test_x)._instincts_claim.id == 'X-1'")
    assert loaded_after(code) == []
    trainer = ("import instincts.trainer\nfrom instincts import train\n"
               "assert train.__module__ == 'instincts.trainer.fit'")
    assert loaded_after(trainer) == ["torch"]
