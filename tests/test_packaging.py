"""Each service installs and imports with its own dependencies only, as its image does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).with_name("uv")
# Loaded only once tracing starts: a service that does not trace pays nothing for them.
TRACING_ONLY = ["opentelemetry.exporter", "opentelemetry.instrumentation"]


# An install from the uv cache takes seconds, a cold one minutes: its own limit comes first.
@pytest.mark.timeout(420)
@pytest.mark.parametrize(
    ("extra", "package", "absent"),
    [
        ("gateway", "gateway", ["sqlalchemy", "argon2", "asyncpg", *TRACING_ONLY]),
        ("orders", "order_service", ["argon2", *TRACING_ONLY]),
        ("auth", "auth_service", [*TRACING_ONLY]),
    ],
)
def test_a_service_needs_only_its_own_extra(
    tmp_path: Path, extra: str, package: str, absent: list[str]
) -> None:
    environment = tmp_path / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(environment)}
    subprocess.run(
        [UV, "sync", "--quiet", "--locked", "--no-dev", "--extra", extra],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )

    # sniffio too: without it httpcore retries a failing import on every pool lock, which
    # halves the gateway's throughput (docs/design.md).
    probe = (
        f"import sys, sniffio, {package}.app; print([m for m in {absent!r} if m in sys.modules])"
    )
    result = subprocess.run(
        [environment / "bin" / "python", "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
