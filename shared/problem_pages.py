"""`GET /problems/{slug}`: what a problem type URI resolves to (RFC 9457 §3.1.1), and
`GET /problems`, every type: an HTML page for people, JSON when the client asks for it.

Public, and static: the pages say what the catalogue (`shared.problem_types`) says, so caches
may keep them for an hour.
"""

from __future__ import annotations

import html

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from shared.openapi_responses import sends
from shared.problem_types import NOT_FOUND, PROBLEM_TYPES, ProblemType
from shared.problems import Problem

_HEADERS = {
    "Cache-Control": "public, max-age=3600",
    "Vary": "Accept",
    # A page of text: it loads nothing, runs nothing, and no other page may frame it.
    "Content-Security-Policy": (
        "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}
_PAGE_CONTENT = {"text/html": {"schema": {"type": "string"}}}
_SHOW_ONE = {
    "show_problem_type": {
        "operationId": "show_problem_type",
        "parameters": {"path.slug": "$response.body#/problem_types/0/slug"},
    }
}


class ProblemTypeOut(BaseModel):
    """A problem type, as its page describes it."""

    type: str = Field(description="The URI problems of this type carry as `type`.")
    slug: str
    status: int = Field(description="The HTTP status problems of this type are answered with.")
    title: str
    description: str = Field(description="What happened, and what the client should do.")
    members: dict[str, str] = Field(
        description="The extension members it carries, and what each says."
    )
    headers: list[str] = Field(description="The response headers that come with it.")

    @classmethod
    def of(cls, problem_type: ProblemType) -> ProblemTypeOut:
        return cls(
            type=problem_type.uri,
            slug=problem_type.slug,
            status=problem_type.status,
            title=problem_type.title,
            description=problem_type.description,
            members={name: member.description for name, member in problem_type.extensions.items()},
            headers=list(problem_type.headers),
        )


class ProblemTypeList(BaseModel):
    problem_types: list[ProblemTypeOut]


def _wants_json(request: Request) -> bool:
    """Whether the client prefers JSON to HTML (RFC 9110 §12.5.1, q-values only)."""
    preference: dict[str, float] = {}
    for entry in request.headers.get("accept", "").split(","):
        media_type, *parameters = (part.strip() for part in entry.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        preference[media_type.lower()] = max(quality, preference.get(media_type.lower(), 0.0))
    return preference.get("application/json", 0.0) > preference.get("text/html", 0.0)


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n</head>\n<body>\n{body}</body>\n</html>\n",
        headers=_HEADERS,
    )


def _section(problem_type: ProblemType) -> str:
    members = "".join(
        f"<li><code>{html.escape(name)}</code>: {html.escape(member.description)}</li>\n"
        for name, member in problem_type.extensions.items()
    )
    headers = ", ".join(f"<code>{html.escape(name)}</code>" for name in problem_type.headers)
    return (
        f'<h2 id="{problem_type.slug}"><a href="{problem_type.uri}">'
        f"{html.escape(problem_type.title)}</a></h2>\n"
        f"<p><code>{problem_type.uri}</code>, status {problem_type.status}</p>\n"
        f"<p>{html.escape(problem_type.description)}</p>\n"
        + (f"<p>Members:</p>\n<ul>\n{members}</ul>\n" if members else "")
        + (f"<p>Headers: {headers}</p>\n" if headers else "")
    )


def problem_pages_router() -> APIRouter:
    router = APIRouter(tags=["problems"])

    @router.get(
        "/problems",
        response_model=ProblemTypeList,
        summary="Every problem type the platform answers",
        responses={200: {"content": _PAGE_CONTENT, **sends("Cache-Control"), "links": _SHOW_ONE}},
    )
    async def list_problem_types(request: Request) -> Response:
        if _wants_json(request):
            listing = ProblemTypeList(
                problem_types=[ProblemTypeOut.of(each) for each in PROBLEM_TYPES.values()]
            )
            return Response(
                listing.model_dump_json(), media_type="application/json", headers=_HEADERS
            )
        sections = "".join(_section(each) for each in PROBLEM_TYPES.values())
        return _page("Problem types", f"<h1>Problem types</h1>\n{sections}")

    @router.get(
        "/problems/{slug}",
        response_model=ProblemTypeOut,
        summary="What a problem type means, and what to do about it",
        responses={200: {"content": _PAGE_CONTENT, **sends("Cache-Control")}},
    )
    async def show_problem_type(slug: str, request: Request) -> Response:
        problem_type = PROBLEM_TYPES.get(slug)
        if problem_type is None:
            raise Problem(NOT_FOUND, "There is no such problem type; `GET /problems` lists them.")
        if _wants_json(request):
            described = ProblemTypeOut.of(problem_type)
            return Response(
                described.model_dump_json(), media_type="application/json", headers=_HEADERS
            )
        return _page(problem_type.title, _section(problem_type))

    return router
