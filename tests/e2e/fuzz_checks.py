"""A check of the platform's own that schemathesis runs beside its own (schemathesis.toml
loads this module): every problem an operation answers is of a type its document lists for
that status, so the problem types in the documents can be trusted, not only the statuses."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import CheckContext, Response
from schemathesis.generation.case import Case


@schemathesis.check
def problem_type_conformance(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/problem+json"):
        return None
    documented = case.operation.responses.find_by_status_code(response.status_code)
    if documented is None:
        return None  # an undocumented status: status_code_conformance says so
    listed = documented.definition.get("x-problem-types", [])
    problem_type = response.json().get("type")
    if problem_type not in listed:
        raise AssertionError(
            f"Problem type {problem_type!r} is not documented for status "
            f"{response.status_code}\nDocumented: {', '.join(listed) or 'none'}"
        )
    return None
