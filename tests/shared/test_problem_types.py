"""The catalogue of problem types: complete, consistent, and used."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import shared.problem_types
from shared.problem_types import PROBLEM_TYPES, ProblemType

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "gateway", "auth_service", "order_service")
CATALOGUE = Path(shared.problem_types.__file__)


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    """Every module of the services and `shared`, but the catalogue itself."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path != CATALOGUE and "migrations" not in path.parts:
                yield path, ast.parse(path.read_text(), str(path))


def _names_used() -> set[str]:
    return {
        node.id if isinstance(node, ast.Name) else node.attr
        for _, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Name | ast.Attribute)
    }


def _constant_names() -> dict[str, ProblemType]:
    return {
        name: value
        for name, value in vars(shared.problem_types).items()
        if isinstance(value, ProblemType)
    }


def test_every_type_is_in_the_catalogue_under_its_slug() -> None:
    assert set(_constant_names().values()) == set(PROBLEM_TYPES.values())
    for slug, problem_type in PROBLEM_TYPES.items():
        assert problem_type.slug == slug
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", slug)
        assert problem_type.uri == f"/problems/{slug}"
        assert 400 <= problem_type.status <= 599


@pytest.mark.parametrize("name", sorted(_constant_names()))
def test_every_type_is_raised_or_documented_somewhere(name: str) -> None:
    assert name in _names_used(), f"{name} is in the catalogue, but nothing answers it"


def test_no_code_spells_a_problem_type_uri_of_its_own() -> None:
    """Types come from the catalogue, so that none can be answered without being in it."""
    routes = {"/problems", "/problems/{slug}"}
    spelled = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("/problems/")
        and node.value not in routes
    ]
    assert spelled == []


def test_an_extension_member_means_one_thing_whichever_type_carries_it() -> None:
    members: dict[str, object] = {}
    for problem_type in PROBLEM_TYPES.values():
        for name, member in problem_type.extensions.items():
            assert members.setdefault(name, member.schema) == member.schema, name


def test_the_contract_lists_every_type_with_its_status() -> None:
    contract = (ROOT / "docs" / "contract.md").read_text()
    listed = {
        slug: int(status)
        for slug, status in re.findall(
            r"^\| \[`([a-z-]+)`\]\(/problems/\1\) \| (\d{3}) \|", contract, re.M
        )
    }
    assert listed == {slug: each.status for slug, each in PROBLEM_TYPES.items()}
