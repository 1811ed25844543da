"""Every domain error the order service can raise has its problem response."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import order_service
from order_service.api.problems import PROBLEMS
from order_service.errors import DomainError


def _every_subclass(base: type[DomainError]) -> set[type[DomainError]]:
    found: set[type[DomainError]] = set()
    for subclass in base.__subclasses__():
        found |= {subclass, *_every_subclass(subclass)}
    return found


def _domain_errors() -> set[type[DomainError]]:
    """Every `DomainError` defined anywhere in the service (all its modules imported)."""
    for module in pkgutil.walk_packages(order_service.__path__, "order_service."):
        if ".migrations" not in module.name and module.name != "order_service.__main__":
            importlib.import_module(module.name)
    return _every_subclass(DomainError)


def _name(error: type[DomainError]) -> str:
    return error.__name__


@pytest.mark.parametrize("error", sorted(_domain_errors(), key=str), ids=_name)
def test_every_domain_error_has_a_problem(error: type[DomainError]) -> None:
    assert error in PROBLEMS, f"{error.__name__} would be a 500: add it to api/problems.py"


def test_the_errors_are_found() -> None:
    assert len(_domain_errors()) == len(PROBLEMS) >= 10
