"""`/health/live` (the process answers) and `/health/ready` (it can do its job right now)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from shared.openapi_responses import problems
from shared.problem_types import NOT_READY
from shared.problems import problem_response

logger = logging.getLogger(__name__)

# A readiness check raises when the service cannot serve; it gets the app's lifespan state
# (`shared.state`), where the resources it checks are.
ReadinessCheck = Callable[[Any], Awaitable[None]]

# A probe must answer well within the orchestrator's own probe timeout.
CHECK_TIMEOUT_SECONDS = 2.0


async def _run_check(name: str, check: ReadinessCheck, state: Any) -> str | None:
    """None when the check passes, otherwise a short reason."""
    try:
        await asyncio.wait_for(check(state), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        reason = "timed out"
    except Exception as exc:
        reason = type(exc).__name__
    else:
        return None
    logger.warning("readiness_check_failed", extra={"check": name, "reason": reason})
    return reason


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, Literal["ok"]] = Field(description="Each check of readiness, passed.")


def health_router(checks: Mapping[str, ReadinessCheck]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health/live", summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/health/ready",
        summary="The service can do its job",
        response_model=Readiness,
        responses=problems(NOT_READY),
    )
    async def ready(request: Request) -> JSONResponse:
        names = list(checks)
        state = request.scope["state"]
        reasons = await asyncio.gather(*(_run_check(name, checks[name], state) for name in names))
        results = {name: reason or "ok" for name, reason in zip(names, reasons, strict=True)}
        if any(reasons):
            failing = ", ".join(name for name, reason in zip(names, reasons, strict=True) if reason)
            return problem_response(
                NOT_READY, f"Not ready: {failing}.", extensions={"checks": results}
            )
        return JSONResponse({"status": "ready", "checks": results})

    return router
