"""What a server process loads is what it keeps resident: only what serving needs."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("service", ["auth_service", "order_service"])
def test_a_server_does_not_load_the_migration_tooling(service: str) -> None:
    # In a fresh interpreter (this one has imported Alembic for the migration tests).
    # Alembic would add ~10 MiB to every server's resident memory; only `migrate` needs it.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, {service}.__main__, {service}.app; print('alembic' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert loaded.stdout.strip() == "False"
