"""Alembic environment of the order service."""

from order_service.models import Base
from shared.migrations import run_env

run_env(Base.metadata)
