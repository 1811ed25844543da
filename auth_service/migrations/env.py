"""Alembic environment of the auth service."""

from auth_service.models import Base
from shared.migrations import run_env

run_env(Base.metadata)
