"""Builds the auth service's app; its resources open in the lifespan (`AuthState`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth_service.admins import AccountExists, create_admin
from auth_service.api import router
from auth_service.config import AuthSettings
from auth_service.housekeeping import delete_expired_records
from auth_service.keys import load_key_set
from auth_service.login_throttle import LoginThrottle
from auth_service.metrics import AuthMetrics
from auth_service.passwords import Passwords
from auth_service.registration_throttle import RegistrationThrottle
from auth_service.state import AuthState
from shared.database import check_database, open_database
from shared.database_outage import install_database_outage_handler
from shared.metrics import ServiceMetrics
from shared.periodic import running_periodically
from shared.service import create_service_app, platform_middleware
from shared.tokens import StaticKeySource, TokenVerifier
from shared.tracing import flushed_at_exit, start_tracing

logger = logging.getLogger(__name__)


async def _bootstrap_admin(
    sessionmaker: async_sessionmaker[AsyncSession], passwords: Passwords, settings: AuthSettings
) -> None:
    """Create the configured admin if its email has no account; never promote one."""
    if not (settings.admin_email and settings.admin_password):
        return
    async with sessionmaker() as session:
        try:
            await create_admin(
                session, passwords, settings.admin_email, settings.admin_password.get_secret_value()
            )
        except AccountExists as exists:
            if exists.is_admin:  # made at an earlier start, or by another replica just now
                logger.info("admin_exists", extra={"user_id": str(exists.user.id)})
                return
            logger.error(
                "admin_bootstrap_refused",
                extra={
                    "user_id": str(exists.user.id),
                    "detail": "AUTH_ADMIN_EMAIL belongs to an account that is not an admin,"
                    " whose password whoever registered it chose: it was not promoted. If the"
                    " account is yours, run `python -m auth_service create-admin --email"
                    " <AUTH_ADMIN_EMAIL> --reset-password`: it sets the password you give,"
                    " ends the account's sessions, then promotes it.",
                },
            )


def create_app(
    settings: AuthSettings | None = None, metrics: ServiceMetrics | None = None
) -> FastAPI:
    """The app, its metrics in `metrics` (a registry of its own unless given)."""
    settings = settings or AuthSettings()
    metrics = metrics or ServiceMetrics()
    auth_metrics = AuthMetrics(metrics.registry)
    tracing = start_tracing(settings, "auth_service")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[AuthState]:
        # Tracing exits last: the spans of everything the resources did reach the collector.
        async with flushed_at_exit(tracing), open_resources() as state:
            yield state

    @asynccontextmanager
    async def open_resources() -> AsyncIterator[AuthState]:
        key_set = await asyncio.to_thread(load_key_set, settings)
        passwords = Passwords.from_settings(settings, tracing)
        # Derived from the memory budget and the cores unless configured: say what it came to.
        logger.info(
            "password_hashing_configured",
            extra={
                "concurrency": passwords.concurrency,
                "memory_kib_per_hash": settings.password_hash_memory_kib,
            },
        )
        login_throttle = LoginThrottle.from_settings(settings)
        registration_throttle = RegistrationThrottle.from_settings(settings)
        async with open_database(settings, tracing) as (engine, sessionmaker):
            await _bootstrap_admin(sessionmaker, passwords, settings)
            async with running_periodically(
                lambda: delete_expired_records(
                    sessionmaker,
                    [login_throttle.counters, registration_throttle.counters],
                    batch_size=settings.housekeeping_batch_size,
                    database_share=settings.housekeeping_database_share,
                ),
                name="delete_expired_records",
                interval_seconds=settings.housekeeping_interval_seconds,
                tracing=tracing,
            ):
                yield {
                    "settings": settings,
                    "engine": engine,
                    "sessionmaker": sessionmaker,
                    "key_set": key_set,
                    # The service verifies its own tokens (for /auth/me) with its own keys.
                    "verifier": TokenVerifier(
                        StaticKeySource(key_set.public_keys_by_kid()),
                        issuer=settings.jwt_issuer,
                        audience=settings.jwt_audience,
                        leeway_seconds=settings.jwt_leeway_seconds,
                    ),
                    "passwords": passwords,
                    "login_throttle": login_throttle,
                    "registration_throttle": registration_throttle,
                    "metrics": metrics,
                    "auth_metrics": auth_metrics,
                }

    async def database_answers(state: AuthState) -> None:
        await check_database(state["engine"])

    app = create_service_app(
        title="Auth service",
        description="Accounts, passwords and the access tokens the platform trusts.",
        lifespan=lifespan,
        readiness_checks={"database": database_answers},
        metrics=metrics,
        middleware=platform_middleware(metrics, tracing),
    )
    install_database_outage_handler(app)
    app.include_router(router)
    return app
