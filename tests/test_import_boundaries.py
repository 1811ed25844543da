"""The import contracts in pyproject.toml (`lint-imports`, in `make lint`) catch what they name."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("shared", "gateway", "auth_service", "order_service")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--no-logo", "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and their contracts, to break on purpose."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    result = _lint_imports(ROOT)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "statement", "contract"),
    [
        ("order_service/__init__.py", "import gateway", "No service imports another"),
        ("shared/__init__.py", "import auth_service", "shared imports no service"),
        # Through a shared module the gateway uses, and inside a function: still a dependency.
        (
            "shared/problems.py",
            "def _lazy() -> None:\n    import sqlalchemy",
            "The gateway imports no database code, directly or through shared",
        ),
    ],
)
def test_an_import_across_a_boundary_breaks_its_contract(
    tree: Path, module: str, statement: str, contract: str
) -> None:
    with (tree / module).open("a") as source:
        source.write(f"\n\n{statement}\n")

    result = _lint_imports(tree)

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{contract} BROKEN" in result.stdout
    assert "Contracts: 2 kept, 1 broken." in result.stdout
