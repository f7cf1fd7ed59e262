"""The layout's arrows, read from the imports: the engine below the catalogue, never the reverse.

- ``instincts/`` imports nothing from ``claims``, ``fixtures`` or ``models``;
- the catalogue (``claims``, ``fixtures``, ``models``) uses the engine through its public API only
  (``import instincts`` / ``from instincts import ...``);
- ``claims/test_*.py`` import no other claim module, and no test imports a claim module;
- claims add evidence through ``experiment.attach``, not by importing allure.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ("claims", "fixtures", "models")


def imports(path: Path) -> list[str]:
    """Every module name ``path`` imports (absolute imports; ``from a import b`` gives ``a``)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", files("instincts"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_engine_imports_no_catalogue_module(path):
    assert not [n for n in imports(path) if top(n) in CATALOGUE]


@pytest.mark.parametrize("path", files(*CATALOGUE), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_catalogue_uses_only_the_public_api(path):
    private = [n for n in imports(path) if top(n) == "instincts" and n != "instincts"]
    assert not private, f"{path.relative_to(ROOT)} imports {private}: import from `instincts` (its public API)"


@pytest.mark.parametrize("path", files("claims"), ids=lambda p: str(p.relative_to(ROOT)))
def test_claims_import_no_claim_module_nor_allure(path):
    names = imports(path)
    assert not [n for n in names if top(n) == "claims"], "arms and helpers belong in fixtures/, not in claims/"
    assert "allure" not in map(top, names), "attach evidence with experiment.attach(name, obj)"


@pytest.mark.parametrize("path", files("tests", "benchmarks"), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_test_imports_a_claim_module(path):
    assert not [n for n in imports(path) if top(n) == "claims"]


def test_the_public_api_names_resolve():
    import instincts

    missing = [name for name in instincts.__all__ if not hasattr(instincts, name)]
    assert not missing
