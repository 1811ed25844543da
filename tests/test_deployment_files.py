"""compose.yaml and the Dockerfiles, checked by parsing them (no Docker engine runs here)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from auth_service.config import AuthSettings
from gateway.config import GatewaySettings
from order_service.config import OrdersSettings

ROOT = Path(__file__).resolve().parent.parent
SERVICES: dict[str, tuple[str, str, type[BaseSettings]]] = {
    "gateway": ("gateway", "gateway", GatewaySettings),
    "auth": ("auth_service", "auth", AuthSettings),
    "orders": ("order_service", "orders", OrdersSettings),
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return document


def _env_names(settings: type[BaseSettings]) -> set[str]:
    """The variables a service reads: its own, prefixed, and the standard ones by their names."""
    prefix = settings.model_config.get("env_prefix", "")
    return {
        field.validation_alias
        if isinstance(field.validation_alias, str)
        else f"{prefix}{name}".upper()
        for name, field in settings.model_fields.items()
    }


def test_only_the_gateway_publishes_a_port(compose: dict[str, Any]) -> None:
    # Services in a profile (monitoring) run only when asked for; the default stack is checked.
    published = {
        name
        for name, service in compose["services"].items()
        if service.get("ports") and not service.get("profiles")
    }

    assert published == {"gateway"}


def test_every_dependency_waits_for_health_or_completion(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert rule["condition"] in {"service_healthy", "service_completed_successfully"}, (
                f"{name} -> {dependency}"
            )
            assert dependency in compose["services"]


def test_each_service_runs_after_its_migrations_against_its_own_database(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in ("auth", "orders"):
        migrate = services[f"{name}-migrate"]
        assert services[name]["depends_on"][f"{name}-migrate"]["condition"] == (
            "service_completed_successfully"
        )
        assert migrate["depends_on"][f"{name}-db"]["condition"] == "service_healthy"
        assert migrate["command"][-1] == "migrate"
        assert "healthcheck" in services[f"{name}-db"]


def test_every_environment_variable_set_is_one_the_service_reads(
    compose: dict[str, Any],
) -> None:
    for name, (_, _, settings) in SERVICES.items():
        for service_name in (name, f"{name}-migrate"):
            service = compose["services"].get(service_name)
            if service is None:
                continue
            unknown = set(service.get("environment", {})) - _env_names(settings)
            assert not unknown, f"{service_name} sets variables nothing reads: {unknown}"


def test_databases_are_internal_only(compose: dict[str, Any]) -> None:
    assert compose["networks"]["backend"]["internal"] is True
    for name in ("auth-db", "orders-db"):
        assert compose["services"][name]["networks"] == ["backend"]
        assert "ports" not in compose["services"][name]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_dockerfile_builds_a_small_non_root_image_of_one_service(service: str) -> None:
    package, extra, settings = SERVICES[service]
    dockerfile = (ROOT / package / "Dockerfile").read_text()
    instructions = [
        line.strip()
        for line in dockerfile.replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]

    assert [line for line in instructions if line.startswith("FROM")] == [
        "FROM python:3.12-slim AS build",
        "FROM python:3.12-slim",
    ]
    assert f"--extra {extra}" in dockerfile
    assert "USER 10001:10001" in instructions  # numeric: Kubernetes checks runAsNonRoot
    [cmd] = [line for line in instructions if line.startswith("CMD")]
    assert json.loads(cmd.removeprefix("CMD ")) == ["python", "-m", package, "serve"]
    [healthcheck] = [line for line in instructions if line.startswith("HEALTHCHECK")]
    assert "/health/live" in healthcheck
    port = settings.model_fields["port"].default
    assert re.search(rf"EXPOSE {port}\b", dockerfile)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_dockerfile_passes_hadolint(service: str) -> None:
    package, _, _ = SERVICES[service]
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run(
        [hadolint, "--no-color", str(ROOT / package / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr


# Monitoring images that declare a healthcheck of their own, and those with nothing to run
# one with (no shell, no HTTP client): nothing waits for the latter.
IMAGES_WITH_THEIR_OWN_HEALTHCHECK = {"jaeger"}
IMAGES_WITHOUT_A_PROBE = {"otel-collector", "alloy"}


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "restart" not in service:
            continue  # one-shot: migrations, key generation
        if name in IMAGES_WITHOUT_A_PROBE:
            continue
        dockerfile = service.get("build", {}).get("dockerfile")
        has_image_healthcheck = name in IMAGES_WITH_THEIR_OWN_HEALTHCHECK or (
            bool(dockerfile) and "HEALTHCHECK" in (ROOT / dockerfile).read_text()
        )
        assert "healthcheck" in service or has_image_healthcheck, name


def test_nothing_waits_for_a_service_that_cannot_tell_it_is_healthy(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        assert not set(service.get("depends_on", {})) & IMAGES_WITHOUT_A_PROBE, name


def test_the_signing_key_is_a_read_only_file_made_once(compose: dict[str, Any]) -> None:
    services = compose["services"]
    auth, keygen = services["auth"], services["auth-keygen"]
    key_file = auth["environment"]["AUTH_PRIVATE_KEY_FILE"]

    assert auth["environment"]["AUTH_ENVIRONMENT"] == "production"  # no generated keys
    [mount] = [volume for volume in auth["volumes"] if volume.startswith("auth-keys:")]
    _, directory, mode = mount.split(":")
    assert key_file.startswith(directory + "/")
    assert mode == "ro"
    assert auth["depends_on"]["auth-keygen"]["condition"] == "service_completed_successfully"
    assert keygen["network_mode"] == "none"
    # It writes the very file auth reads, into the same volume, and never replaces one.
    [keygen_mount] = keygen["volumes"]
    volume, keygen_directory = keygen_mount.split(":")
    written = keygen["command"][-1].split("--out ")[1]
    assert volume == "auth-keys"
    assert written == f"{keygen_directory}/{key_file.rsplit('/', 1)[1]}"
    assert f"test -s {written}" in keygen["command"][-1]
    # The volume starts out owned by the user both run as, as the image's directory is.
    assert f"chown app {keygen_directory}" in (ROOT / "auth_service" / "Dockerfile").read_text()
    assert not any("PRIVATE_KEY" in str(value) for value in keygen.get("environment", {}))


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (
            "up PROFILES=monitoring",
            "docker compose --profile monitoring up --build --detach --wait",
        ),
        ("down", "docker compose --profile '*' down"),
        ("logs", "docker compose --profile '*' logs --follow"),
    ],
)
def test_make_wraps_compose(target: str, expected: str) -> None:
    dry_run = subprocess.run(
        ["make", "--dry-run", "--always-make", *target.split()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )

    assert expected in dry_run.stdout


def test_databases_are_ready_only_once_they_take_tcp_connections(compose: dict[str, Any]) -> None:
    for name in ("auth-db", "orders-db"):
        check = " ".join(compose["services"][name]["healthcheck"]["test"])
        assert "pg_isready -h 127.0.0.1" in check  # the socket answers during initialisation


def test_services_get_longer_to_stop_than_they_take_to_drain(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        grace = compose["services"][name]["stop_grace_period"]
        assert int(grace.removesuffix("s")) > 20  # shared.cli drains for up to 20 s


def test_every_named_volume_is_declared(compose: dict[str, Any]) -> None:
    used = {
        mount.split(":")[0]
        for service in compose["services"].values()
        for mount in service.get("volumes", [])
        if isinstance(mount, str) and not mount.startswith((".", "/"))
    }

    assert used <= set(compose["volumes"])
