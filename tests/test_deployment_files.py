"""compose.yaml and the Dockerfile, checked by parsing them (no Docker engine runs here)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings
from starlette.types import Receive, Scope, Send

from auth_service.config import AuthSettings
from gateway.config import GatewaySettings
from order_service.config import OrdersSettings
from tests.support.servers import free_port, running_server

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
# compose service -> (package, extra, settings)
SERVICES: dict[str, tuple[str, str, type[BaseSettings]]] = {
    "gateway": ("gateway", "gateway", GatewaySettings),
    "auth": ("auth_service", "auth", AuthSettings),
    "orders": ("order_service", "orders", OrdersSettings),
}
# Docker probes a container first one interval after it starts, and each tier of the stack
# waits for the one before: intervals of seconds keep `up --wait` to seconds.
LONGEST_PROBE_INTERVAL_SECONDS = 2


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return document


def _instructions(dockerfile: str) -> list[str]:
    return [
        line.strip()
        for line in dockerfile.replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _seconds(duration: str) -> float:
    """A compose duration such as `2s` or `1m30s`, in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert "".join(number + unit for number, unit in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


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


def test_each_waits_for_its_data_and_the_services_start_side_by_side(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in compose["services"]
            # A service copes without the others until they answer: waiting for each one's
            # health in turn would add a probe interval per tier to every start.
            expected = (
                {"service_started"}
                if dependency in SERVICES
                else {"service_healthy", "service_completed_successfully"}
            )
            assert rule["condition"] in expected, f"{name} -> {dependency}"


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
        for service_name in (name, f"{name}-migrate", f"{name}-relay"):
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


def test_the_image_runs_the_python_the_project_is_checked_with() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    floor = project["project"]["requires-python"].removeprefix(">=")
    instructions = _instructions(DOCKERFILE.read_text())

    # CI tests the lowest Python the project supports, and mypy checks for it.
    assert project["tool"]["mypy"]["python_version"] == floor
    assert [line for line in instructions if line.startswith("FROM")] == [
        f"FROM python:{floor}-slim AS build",
        f"FROM python:{floor}-slim",
    ]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_one_dockerfile_builds_each_service_with_only_its_own_extra(
    compose: dict[str, Any], service: str
) -> None:
    package, extra, _ = SERVICES[service]
    dockerfile = DOCKERFILE.read_text()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    built = compose["services"][service]["build"]

    assert built == {"context": ".", "args": {"SERVICE": package}}
    assert extra in extras["optional-dependencies"]
    assert re.search(rf"^\s*{package}\) extra={extra} ;;", dockerfile, re.MULTILINE)
    assert '--extra "$extra"' in dockerfile


def test_the_image_is_installed_from_the_lock_file_and_runs_as_a_numeric_user() -> None:
    dockerfile = DOCKERFILE.read_text()
    instructions = _instructions(dockerfile)

    assert "uv sync --locked" in dockerfile  # a lock file out of step fails the build
    assert "--frozen" not in dockerfile
    assert "USER 10001:10001" in instructions  # numeric: Kubernetes checks runAsNonRoot
    assert any("compileall" in line for line in instructions)
    [cmd] = [line for line in instructions if line.startswith("CMD")]
    assert json.loads(cmd.removeprefix("CMD ")) == ["sh", "-c", 'exec python -m "$SERVICE" serve']


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
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


def test_each_image_is_built_once_and_its_jobs_run_it_without_a_registry(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    built = {service["image"]: name for name, service in services.items() if "build" in service}

    assert built == {f"order-platform/{name}": name for name in SERVICES}
    # Never looked up in a registry, where an image of that name would be someone else's.
    for name, service in services.items():
        if "build" in service:
            assert service["pull_policy"] == "build", name
        elif service.get("image") in built:
            assert service["pull_policy"] == "never", name


def test_compose_builds_the_images_the_kubernetes_manifests_run(compose: dict[str, Any]) -> None:
    kustomization = yaml.safe_load(
        (ROOT / "deploy" / "k8s" / "base" / "kustomization.yaml").read_text()
    )
    built = {service["image"] for service in compose["services"].values() if "build" in service}

    assert built == {image["name"] for image in kustomization["images"]}


def test_every_long_running_service_is_probed_at_its_own_port(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "restart" not in service:
            continue  # one-shot: migrations, key generation
        if name in IMAGES_WITHOUT_A_PROBE:
            continue
        assert "healthcheck" in service or name in IMAGES_WITH_THEIR_OWN_HEALTHCHECK, name
        if name in SERVICES:
            port = SERVICES[name][2].model_fields["port"].default
            check = " ".join(service["healthcheck"]["test"])
            assert f"/dev/tcp/127.0.0.1/{port} " in check, name
            assert "GET /health/live " in check, name


def test_the_default_stack_is_probed_often_enough_to_start_in_seconds(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        if "healthcheck" in service and not service.get("profiles"):
            interval = _seconds(service["healthcheck"]["interval"])
            assert interval <= LONGEST_PROBE_INTERVAL_SECONDS, name


def test_no_healthcheck_needs_a_recent_docker_engine(compose: dict[str, Any]) -> None:
    # Compose refuses the whole `up` on engines before 25 (Debian 12 ships 20.10) with it.
    for name, service in compose["services"].items():
        assert "start_interval" not in service.get("healthcheck", {}), name


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
    assert f"chown app {keygen_directory}" in DOCKERFILE.read_text()
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


def _auth_probe_at(compose: dict[str, Any], port: int) -> list[str]:
    """The auth service's healthcheck command as compose runs it (`$$` is a literal `$`),
    pointed at another port."""
    [kind, *command] = compose["services"]["auth"]["healthcheck"]["test"]
    assert kind == "CMD"
    own_port = AuthSettings.model_fields["port"].default
    return [part.replace("$$", "$").replace(f"/{own_port} ", f"/{port} ") for part in command]


@pytest.mark.parametrize(("status", "is_healthy"), [(200, True), (503, False)])
def test_a_service_probe_is_healthy_only_when_live_answers_200(
    compose: dict[str, Any], status: int, is_healthy: bool
) -> None:
    async def live(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["path"] == "/health/live"
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    with running_server(live) as url:
        probe = _auth_probe_at(compose, int(url.rsplit(":", 1)[1]))
        result = subprocess.run(probe, capture_output=True, check=False, timeout=30)

    assert (result.returncode == 0) is is_healthy


def test_a_service_probe_fails_when_nothing_listens(compose: dict[str, Any]) -> None:
    probe = _auth_probe_at(compose, free_port())

    assert subprocess.run(probe, capture_output=True, check=False, timeout=30).returncode != 0


def test_the_relay_runs_the_orders_image_after_its_migrations_with_a_way_out(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    relay, orders = services["orders-relay"], services["orders"]

    assert (relay["image"], relay["pull_policy"]) == (orders["image"], "never")
    assert relay["command"] == ["python", "-m", "order_service", "relay"]
    assert relay["environment"] == orders["environment"]
    assert relay["depends_on"]["orders-migrate"]["condition"] == "service_completed_successfully"
    port = OrdersSettings.model_fields["relay_port"].default
    assert f"/dev/tcp/127.0.0.1/{port} " in " ".join(relay["healthcheck"]["test"])
    # Webhooks go to the internet: the backend network has no way out, the edge one has.
    assert set(relay["networks"]) == {"backend", "edge"}
    assert not compose["networks"]["edge"].get("internal")
    drain = OrdersSettings.model_fields["relay_drain_seconds"].default
    assert int(relay["stop_grace_period"].removesuffix("s")) > 20 + drain
