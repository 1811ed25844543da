"""Builds the auth service's app; resources open in the lifespan and live on `app.state`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from auth_service.admins import AccountExists, create_admin
from auth_service.api import router
from auth_service.config import AuthSettings
from auth_service.housekeeping import delete_expired_records
from auth_service.keys import load_key_set
from auth_service.login_throttle import LoginThrottle
from auth_service.metrics import AuthMetrics
from auth_service.passwords import Passwords
from auth_service.registration_throttle import RegistrationThrottle
from shared.database import check_database, open_database
from shared.database_outage import install_database_outage_handler
from shared.periodic import running_periodically
from shared.service import create_service_app
from shared.tokens import StaticKeySource, TokenVerifier

logger = logging.getLogger(__name__)


async def _bootstrap_admin(app: FastAPI, settings: AuthSettings) -> None:
    """Create the configured admin if its email has no account; never promote one."""
    if not (settings.admin_email and settings.admin_password):
        return
    async with app.state.sessionmaker() as session:
        try:
            await create_admin(
                session,
                app.state.passwords,
                settings.admin_email,
                settings.admin_password.get_secret_value(),
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


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or AuthSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        key_set = await asyncio.to_thread(load_key_set, settings)
        app.state.settings = settings
        app.state.key_set = key_set
        # The service verifies its own tokens (for /auth/me) with its own keys: no HTTP.
        app.state.token_verifier = TokenVerifier(
            StaticKeySource(key_set.public_keys_by_kid()),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway_seconds=settings.jwt_leeway_seconds,
        )
        app.state.passwords = passwords = Passwords.from_settings(settings)
        # Derived from the memory budget and the cores unless configured: say what it came to.
        logger.info(
            "password_hashing_configured",
            extra={
                "concurrency": passwords.concurrency,
                "memory_kib_per_hash": settings.password_hash_memory_kib,
            },
        )
        app.state.login_throttle = login_throttle = LoginThrottle.from_settings(settings)
        app.state.registration_throttle = registration_throttle = (
            RegistrationThrottle.from_settings(settings)
        )
        async with open_database(app, settings):
            await _bootstrap_admin(app, settings)
            async with running_periodically(
                lambda: delete_expired_records(
                    app.state.sessionmaker,
                    [login_throttle.counters, registration_throttle.counters],
                ),
                name="delete_expired_records",
                interval_seconds=settings.housekeeping_interval_seconds,
            ):
                yield

    app = create_service_app(
        title="Auth service",
        description="Accounts, passwords and the access tokens the platform trusts.",
        lifespan=lifespan,
        readiness_checks={"database": check_database},
    )
    app.state.auth_metrics = AuthMetrics(app.state.metrics.registry)
    install_database_outage_handler(app)
    app.include_router(router)
    return app
