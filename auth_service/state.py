"""What the auth service's lifespan opens, and its handlers use (`shared.state`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.config import AuthSettings
from auth_service.keys import KeySet
from auth_service.login_throttle import LoginThrottle
from auth_service.metrics import AuthMetrics
from auth_service.passwords import Passwords
from auth_service.registration_throttle import RegistrationThrottle
from shared.database import DatabaseState
from shared.metrics import ServiceMetrics
from shared.state import VerifyingState


class AuthState(VerifyingState, DatabaseState):
    settings: AuthSettings
    engine: AsyncEngine
    key_set: KeySet
    passwords: Passwords
    login_throttle: LoginThrottle
    registration_throttle: RegistrationThrottle
    metrics: ServiceMetrics
    auth_metrics: AuthMetrics
