"""The published contract, tried as a client developer would try it, against the platform as
processes on Postgres: schemathesis fuzzes the gateway's merged OpenAPI document and each
service's own (every phase and every check, as `schemathesis.toml` says), and a client
generated from the gateway's document runs the README's example.

One module, so that a parallel run keeps it on one worker and starts its stack once.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Stack, database_urls, running_stack

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
FUZZ_TIMEOUT_SECONDS = 300

# Fuzzing sends hundreds of requests a second as one user, and signs in and registers with
# made-up credentials from one address: at the defaults, the rate limit and the sign-in and
# registration throttles would answer most of it (correctly, and documented) and leave the
# rest untested.
FUZZED_STACK_SETTINGS = {
    "GATEWAY_RATE_LIMIT_PER_SECOND": "100000",
    "GATEWAY_RATE_LIMIT_BURST": "100000",
    "AUTH_LOGIN_MAX_ATTEMPTS_PER_ACCOUNT": "100000",
    "AUTH_LOGIN_MAX_ATTEMPTS_PER_ADDRESS": "100000",
    "AUTH_REGISTRATION_MAX_PER_ADDRESS": "100000",
}


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("contract")
    with (
        database_urls("postgres", request, workdir) as urls,
        running_stack(workdir, *urls, FUZZED_STACK_SETTINGS) as stack,
    ):
        yield stack


def _access_token(gateway_url: str, email: str, password: str) -> str:
    response = httpx.post(
        f"{gateway_url}/auth/token",
        data={"grant_type": "password", "username": email, "password": password},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture(scope="module")
def tokens(stack: Stack) -> dict[str, str]:
    """Tokens for the fuzzer: a user's, and the admin's for operations that need that role."""
    email, password = "fuzzer@example.com", "a long enough password"
    registered = httpx.post(
        f"{stack.gateway_url}/auth/register",
        json={"email": email, "password": password},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    return {
        "FUZZ_USER_TOKEN": _access_token(stack.gateway_url, email, password),
        "FUZZ_ADMIN_TOKEN": _access_token(stack.gateway_url, ADMIN_EMAIL, ADMIN_PASSWORD),
    }


@pytest.mark.parametrize("document", ["gateway", "auth", "orders"])
def test_schemathesis_finds_nothing_wrong(
    stack: Stack, tokens: dict[str, str], document: str
) -> None:
    base_url = stack.gateway_url if document == "gateway" else stack.service_urls[document]

    result = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "--config-file",
            str(ROOT / "schemathesis.toml"),
            "--no-color",
            "run",
            f"{base_url}/openapi.json",
        ],
        env={**os.environ, **tokens},
        capture_output=True,
        text=True,
        timeout=FUZZ_TIMEOUT_SECONDS,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-20_000:] + result.stderr[-5_000:]
    # Every phase ran, none was skipped for want of something to do.
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in result.stdout, result.stdout[-5_000:]


def _readme_block(heading: str, language: str) -> str:
    section = README.read_text().split(heading, 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert match, f"the README has no {language} block under {heading!r}"
    return match.group(1)


def test_a_client_generated_from_the_document_runs_the_readmes_example(
    stack: Stack, tmp_path: Path
) -> None:
    document = tmp_path / "openapi.json"
    document.write_bytes(httpx.get(f"{stack.gateway_url}/openapi.json", timeout=30).content)
    # The README's command, from a file instead of the URL; no formatter run on the result.
    config = tmp_path / "generator.yaml"
    config.write_text("post_hooks: []\n")
    generated = subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(document),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout, generated.stdout
    example = _readme_block("### A typed client", "python").replace(
        "http://localhost:8000", stack.gateway_url
    )

    result = subprocess.run(
        [sys.executable, "-c", example],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "401 /problems/unauthorized"
