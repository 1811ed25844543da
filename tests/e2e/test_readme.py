"""The README's walk-through, run exactly as written (but for the port) against the stack."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack

README = Path(__file__).resolve().parents[2] / "README.md"

# One worker runs every end-to-end test, so that each stack starts once.
pytestmark = pytest.mark.xdist_group("e2e")


def _walkthrough() -> str:
    section = README.read_text().split("### A walk through the API", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "the README has no walk-through block"
    return match.group(1)


def test_the_readme_walkthrough_works_as_written(stack: Stack) -> None:
    script = _walkthrough().replace("localhost:8000", stack.gateway_url)

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert '"email":"alice@example.com"' in result.stdout
    assert "HTTP/1.1 201 Created" in result.stdout
    assert '"total":"25.00"' in result.stdout
    refusal = result.stdout.split("HTTP/1.1 401 Unauthorized", 1)[1]
    assert "www-authenticate: Bearer" in refusal
    # The gateway refused it itself: it never went upstream.
    assert "server-timing: auth;dur=" in refusal
    assert "upstream;dur=" not in refusal
