"""deploy/k8s/base, checked by parsing it: the Kubernetes schemas (offline), then the wiring."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from kubernetes_validate.utils import latest_version  # type: ignore[import-untyped]
from pydantic_settings import BaseSettings

from auth_service.config import AuthSettings
from gateway.config import GatewaySettings
from order_service.config import OrdersSettings
from shared.settings import DEFAULT_TRACE_RATIO

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "deploy" / "k8s" / "base"
Manifest = dict[str, Any]

# service (its app.kubernetes.io/name) -> (package, settings)
SERVICES: dict[str, tuple[str, type[BaseSettings]]] = {
    "gateway": ("gateway", GatewaySettings),
    "auth": ("auth_service", AuthSettings),
    "orders": ("order_service", OrdersSettings),
}
# The oldest Kubernetes the base supports (the preStop `sleep` action needs 1.30), and the
# newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.31", latest_version())
# What an operator creates before applying the base: (Secret, key).
EXPECTED_SECRETS = {
    ("auth-database", "url"),
    ("orders-database", "url"),
    ("auth-signing-keys", "signing-key.pem"),
}
UVICORN_GRACEFUL_SHUTDOWN_SECONDS = 20
# Internal ranges a webhook must never reach (the relay's egress excepts each of them).
INTERNAL_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")
# Variables a container may set that no settings class reads.
STANDARD_ENVIRONMENT = {"TZ", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
# The one writable directory of a read-only root filesystem: an emptyDir.
SCRATCH = "/tmp"  # noqa: S108


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    documents: list[Manifest] = []
    for path in sorted(BASE.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            documents.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return documents


@pytest.fixture(scope="module")
def kustomization() -> Manifest:
    document: Manifest = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return document


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Schema validation must work offline: any attempt to connect fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _of_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {doc["metadata"]["name"]: doc for doc in manifests if doc["kind"] == kind}


def _service_of(workload: Manifest) -> str:
    name: str = workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
    return name


def _service_workloads(manifests: list[Manifest], kind: str) -> Iterator[tuple[str, Manifest]]:
    for workload in _of_kind(manifests, kind).values():
        if _service_of(workload) in SERVICES:
            yield _service_of(workload), workload


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def _pod_labels(workload: Manifest) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def _only_container(workload: Manifest) -> Manifest:
    containers: list[Manifest] = workload["spec"]["template"]["spec"]["containers"]
    [container] = containers
    return container


def _env_names(settings: type[BaseSettings]) -> set[str]:
    """The variables a service reads: its own, prefixed, and the standard ones by their names."""
    prefix = settings.model_config.get("env_prefix", "")
    return {
        field.validation_alias
        if isinstance(field.validation_alias, str)
        else f"{prefix}{name}".upper()
        for name, field in settings.model_fields.items()
    }


def _environment(container: Manifest, config_maps: dict[str, Manifest]) -> dict[str, Any]:
    """Every variable the container gets: its ConfigMaps' data, then its own `env`."""
    variables: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        variables.update(config_maps[source["configMapRef"]["name"]]["data"])
    for var in container.get("env", []):
        variables[var["name"]] = var.get("value", var.get("valueFrom"))
    return variables


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.usefixtures("no_network")
def test_every_manifest_is_valid_against_the_kubernetes_schemas(
    manifests: list[Manifest], version: str
) -> None:
    failures = []
    for doc in manifests:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            failures.append(f"{doc['kind']}/{doc['metadata']['name']} {path}: {error.message}")

    assert not failures


def test_the_kustomization_lists_exactly_the_files_present(kustomization: Manifest) -> None:
    present = {path.name for path in BASE.iterdir()} - {"kustomization.yaml"}

    assert sorted(kustomization["resources"]) == sorted(present)


def test_the_base_names_no_namespace_and_labels_everything_as_the_platform(
    kustomization: Manifest, manifests: list[Manifest]
) -> None:
    assert "namespace" not in kustomization
    assert any(
        entry["pairs"].get("app.kubernetes.io/part-of") == "order-platform"
        for entry in kustomization["labels"]
    )
    for doc in manifests:
        assert "namespace" not in doc["metadata"], doc["metadata"]["name"]
        assert "app.kubernetes.io/name" in doc["metadata"]["labels"], doc["metadata"]["name"]
    for kind in ("Deployment", "Job"):
        for workload in _of_kind(manifests, kind).values():
            assert _pod_labels(workload)["app.kubernetes.io/part-of"] == "order-platform"


def test_each_service_runs_its_own_image_and_serve_command(
    manifests: list[Manifest], kustomization: Manifest
) -> None:
    deployments = dict(_service_workloads(manifests, "Deployment"))
    tagged_by_the_kustomization = {image["name"] for image in kustomization["images"]}

    assert set(deployments) == set(SERVICES)
    assert tagged_by_the_kustomization == {f"order-platform/{service}" for service in SERVICES}
    for service, deployment in deployments.items():
        container = _only_container(deployment)
        assert container["image"] == f"order-platform/{service}"
        assert container["args"] == ["python", "-m", SERVICES[service][0], "serve"]
        assert _selects(deployment["spec"]["selector"]["matchLabels"], _pod_labels(deployment))


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_deployment_probes_the_health_endpoints_on_the_service_port(
    manifests: list[Manifest], service: str
) -> None:
    container = _only_container(_of_kind(manifests, "Deployment")[service])
    [port] = container["ports"]

    assert port["containerPort"] == SERVICES[service][1].model_fields["port"].default
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": port["name"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": port["name"]}


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_every_pod_is_locked_down(manifests: list[Manifest], kind: str) -> None:
    for workload in _of_kind(manifests, kind).values():
        pod = workload["spec"]["template"]["spec"]
        container = _only_container(workload)
        effective = {**pod["securityContext"], **container["securityContext"]}
        name = workload["metadata"]["name"]

        assert effective["runAsNonRoot"] is True, name
        # The services' images run as uid 10001 (Redis as its image's own user).
        if _service_of(workload) in SERVICES:
            assert effective["runAsUser"] == 10001, name
        assert effective["readOnlyRootFilesystem"] is True, name
        assert effective["allowPrivilegeEscalation"] is False, name
        assert effective["capabilities"] == {"drop": ["ALL"]}, name
        assert effective["seccompProfile"] == {"type": "RuntimeDefault"}, name
        # Service links would inject e.g. AUTH_PORT=tcp://… over the service's own settings.
        assert pod["enableServiceLinks"] is False, name
        assert pod["automountServiceAccountToken"] is False, name
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
        assert "memory" in container["resources"]["limits"], name


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_every_service_pod_writes_only_to_an_empty_dir_at_tmp(
    manifests: list[Manifest], kind: str
) -> None:
    for _, workload in _service_workloads(manifests, kind):
        pod = workload["spec"]["template"]["spec"]
        mounts = _only_container(workload)["volumeMounts"]
        [tmp] = [mount for mount in mounts if mount["mountPath"] == SCRATCH]
        [volume] = [volume for volume in pod["volumes"] if volume["name"] == tmp["name"]]

        assert "emptyDir" in volume, workload["metadata"]["name"]


def test_pods_leave_the_endpoints_before_draining_within_the_grace_period(
    manifests: list[Manifest],
) -> None:
    for _, deployment in _service_workloads(manifests, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        pause = _only_container(deployment)["lifecycle"]["preStop"]["sleep"]["seconds"]

        assert pause > 0
        assert pod["terminationGracePeriodSeconds"] > pause + UVICORN_GRACEFUL_SHUTDOWN_SECONDS


def test_gateway_replicas_spread_across_nodes(manifests: list[Manifest]) -> None:
    gateway = _of_kind(manifests, "Deployment")["gateway"]
    constraints = gateway["spec"]["template"]["spec"]["topologySpreadConstraints"]

    [by_node] = [rule for rule in constraints if rule["topologyKey"] == "kubernetes.io/hostname"]
    assert _selects(by_node["labelSelector"]["matchLabels"], _pod_labels(gateway))


def test_every_environment_variable_set_is_one_the_service_reads(
    manifests: list[Manifest],
) -> None:
    config_maps = _of_kind(manifests, "ConfigMap")
    for kind in ("Deployment", "Job"):
        for service, workload in _service_workloads(manifests, kind):
            variables = _environment(_only_container(workload), config_maps)
            unknown = set(variables) - _env_names(SERVICES[service][1]) - STANDARD_ENVIRONMENT
            assert not unknown, f"{workload['metadata']['name']} sets {unknown}"


def test_secrets_are_referenced_never_defined(manifests: list[Manifest]) -> None:
    keys_referenced, secrets_mounted = set(), set()
    for kind in ("Deployment", "Job"):
        for workload in _of_kind(manifests, kind).values():
            pod = workload["spec"]["template"]["spec"]
            for container in pod["containers"]:
                for var in container.get("env", []):
                    if "secretKeyRef" in var.get("valueFrom", {}):
                        reference = var["valueFrom"]["secretKeyRef"]
                        keys_referenced.add((reference["name"], reference["key"]))
                assert not any("secretRef" in source for source in container.get("envFrom", []))
            secrets_mounted |= {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}

    assert not _of_kind(manifests, "Secret")
    assert keys_referenced <= EXPECTED_SECRETS
    assert {name for name, _ in keys_referenced} | secrets_mounted == {
        name for name, _ in EXPECTED_SECRETS
    }


def test_the_signing_key_file_is_in_its_secret_mounted_read_only(
    manifests: list[Manifest],
) -> None:
    auth = _of_kind(manifests, "Deployment")["auth"]
    pod = auth["spec"]["template"]["spec"]
    [volume] = [volume for volume in pod["volumes"] if "secret" in volume]
    mounts = _only_container(auth)["volumeMounts"]
    [mount] = [mount for mount in mounts if mount["name"] == volume["name"]]
    key_file = _of_kind(manifests, "ConfigMap")["auth-config"]["data"]["AUTH_PRIVATE_KEY_FILE"]

    assert volume["secret"]["secretName"] == "auth-signing-keys"
    assert mount["readOnly"] is True
    assert key_file == f"{mount['mountPath']}/signing-key.pem"


def test_the_expected_secrets_are_documented() -> None:
    readme = (BASE.parent / "README.md").read_text()

    for secret, key in EXPECTED_SECRETS:
        assert f"| `{secret}` | `{key}` |" in readme


def test_autoscalers_own_the_replica_count_of_existing_deployments(
    manifests: list[Manifest],
) -> None:
    deployments = _of_kind(manifests, "Deployment")
    autoscalers = _of_kind(manifests, "HorizontalPodAutoscaler")

    targets = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in autoscalers.values()}
    assert targets == {"gateway", "orders"}
    for hpa in autoscalers.values():
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert hpa["spec"]["minReplicas"] >= 2
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
    for service, deployment in _service_workloads(manifests, "Deployment"):
        # A replica count beside an HPA would reset the autoscaler's on every apply.
        if service in targets:
            assert "replicas" not in deployment["spec"], service
        else:
            assert deployment["spec"]["replicas"] >= 2, service


def test_disruption_budgets_and_services_select_the_service_pods_only(
    manifests: list[Manifest],
) -> None:
    deployments = _of_kind(manifests, "Deployment")
    jobs = _of_kind(manifests, "Job").values()
    budgets = _of_kind(manifests, "PodDisruptionBudget")
    services = _of_kind(manifests, "Service")

    assert set(budgets) == {*SERVICES, "otel-collector"}
    for budget in budgets.values():
        assert budget["spec"]["minAvailable"] == 1
        selector = budget["spec"]["selector"]["matchLabels"]
        assert _selects(selector, _pod_labels(deployments[budget["metadata"]["name"]]))
    for name, service in services.items():
        selector = service["spec"]["selector"]
        [selected] = [d for d in deployments.values() if _selects(selector, _pod_labels(d))]
        assert not [job for job in jobs if _selects(selector, _pod_labels(job))], name
        port_names = {port["name"] for port in _only_container(selected)["ports"]}
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= port_names
        assert service["spec"]["type"] == "ClusterIP"


def test_each_migration_job_migrates_a_deployed_service_with_its_settings(
    manifests: list[Manifest],
) -> None:
    deployments = _of_kind(manifests, "Deployment")
    migrated = set()
    for service, job in _service_workloads(manifests, "Job"):
        container = _only_container(job)
        served = _only_container(deployments[service])
        migrated.add(service)

        assert container["args"] == ["python", "-m", SERVICES[service][0], "migrate"]
        assert container["image"] == served["image"]
        assert container["envFrom"] == served["envFrom"]
        assert container["env"] == served["env"]
        assert job["spec"]["backoffLimit"] >= 1
        assert job["spec"]["ttlSecondsAfterFinished"] > 0
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert migrated == {"auth", "orders"}


def test_in_cluster_urls_name_services_of_the_base_on_their_ports(
    manifests: list[Manifest],
) -> None:
    services = _of_kind(manifests, "Service")
    for config_map in _of_kind(manifests, "ConfigMap").values():
        for variable, value in config_map["data"].items():
            url = urlsplit(value)
            if url.scheme not in {"http", "redis"} or "." in (url.hostname or "."):
                continue
            assert url.hostname in services, variable
            ports = {port["port"] for port in services[url.hostname]["spec"]["ports"]}
            assert url.port in ports, variable


def test_the_gateway_rate_limiter_uses_the_redis_of_the_base(manifests: list[Manifest]) -> None:
    url = urlsplit(_of_kind(manifests, "ConfigMap")["gateway-config"]["data"]["GATEWAY_REDIS_URL"])
    redis = _of_kind(manifests, "Service")["redis"]

    assert (url.scheme, url.hostname) == ("redis", "redis")
    redis_pods = _pod_labels(_of_kind(manifests, "Deployment")["redis"])
    assert _selects(redis["spec"]["selector"], redis_pods)


def test_every_service_agrees_on_issuer_and_audience(manifests: list[Manifest]) -> None:
    config_maps = _of_kind(manifests, "ConfigMap")
    prefixes = {"gateway": "GATEWAY_", "auth": "AUTH_", "orders": "ORDERS_"}
    values = {
        (
            config_maps[f"{service}-config"]["data"][f"{prefix}JWT_ISSUER"],
            config_maps[f"{service}-config"]["data"][f"{prefix}JWT_AUDIENCE"],
        )
        for service, prefix in prefixes.items()
    }

    assert len(values) == 1


def _admitted_sources(manifests: list[Manifest], target: Manifest) -> set[str]:
    """Which Deployments' pods may connect to the target's ("*": anyone)."""
    deployments = _of_kind(manifests, "Deployment")
    sources: set[str] = set()
    for policy in _of_kind(manifests, "NetworkPolicy").values():
        if not _selects(policy["spec"]["podSelector"]["matchLabels"], _pod_labels(target)):
            continue
        for rule in policy["spec"].get("ingress", []):
            if "from" not in rule:
                sources.add("*")
            for peer in rule.get("from", []):
                if set(peer) != {"podSelector"}:
                    sources.add("*")  # other namespaces or addresses: outside the platform
                    continue
                selector = peer["podSelector"]["matchLabels"]
                sources |= {n for n, d in deployments.items() if _selects(selector, _pod_labels(d))}
    return sources


def test_only_the_gateway_is_reachable_from_outside_the_platform(
    manifests: list[Manifest],
) -> None:
    deployments = _of_kind(manifests, "Deployment")
    admitted = {name: _admitted_sources(manifests, d) for name, d in deployments.items()}

    assert admitted == {
        "gateway": {"*"},
        "auth": {"gateway", "orders"},
        "orders": {"gateway"},
        "orders-relay": set(),
        "redis": {"gateway"},
        "otel-collector": {"gateway", "auth", "orders"},
    }


def test_every_pod_of_the_platform_refuses_what_no_policy_admits(
    manifests: list[Manifest],
) -> None:
    deny_all = [
        policy["spec"]["podSelector"]["matchLabels"]
        for policy in _of_kind(manifests, "NetworkPolicy").values()
        if policy["spec"]["policyTypes"] == ["Ingress"] and "ingress" not in policy["spec"]
    ]

    for kind in ("Deployment", "Job"):
        for workload in _of_kind(manifests, kind).values():
            assert any(_selects(selector, _pod_labels(workload)) for selector in deny_all)


def test_network_policies_admit_the_ports_their_pods_listen_on(
    manifests: list[Manifest],
) -> None:
    deployments = _of_kind(manifests, "Deployment").values()
    for policy in _of_kind(manifests, "NetworkPolicy").values():
        selector = policy["spec"]["podSelector"]["matchLabels"]
        for target in [d for d in deployments if _selects(selector, _pod_labels(d))]:
            listening = {port["containerPort"] for port in _only_container(target)["ports"]}
            for rule in policy["spec"].get("ingress", []):
                assert {port["port"] for port in rule["ports"]} <= listening


def test_the_relay_runs_the_orders_image_with_the_orders_settings(
    manifests: list[Manifest],
) -> None:
    deployments = _of_kind(manifests, "Deployment")
    relay, orders = deployments["orders-relay"], deployments["orders"]
    container, served = _only_container(relay), _only_container(orders)
    variables = _environment(container, _of_kind(manifests, "ConfigMap"))
    [port] = container["ports"]

    assert container["args"] == ["python", "-m", "order_service", "relay"]
    assert container["image"] == served["image"]
    assert (container["envFrom"], container["env"]) == (served["envFrom"], served["env"])
    assert not set(variables) - _env_names(OrdersSettings) - STANDARD_ENVIRONMENT
    assert port["containerPort"] == OrdersSettings.model_fields["relay_port"].default
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert relay["spec"]["replicas"] >= 2
    # Nothing calls it: no Service selects it.
    for service in _of_kind(manifests, "Service").values():
        assert not _selects(service["spec"]["selector"], _pod_labels(relay))


def test_the_relay_drains_within_its_grace_period(manifests: list[Manifest]) -> None:
    relay = _of_kind(manifests, "Deployment")["orders-relay"]
    drain = OrdersSettings.model_fields["relay_drain_seconds"].default

    grace = relay["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > UVICORN_GRACEFUL_SHUTDOWN_SECONDS + drain


def test_the_relay_reaches_its_database_dns_and_public_web_servers_only(
    manifests: list[Manifest],
) -> None:
    relay = _of_kind(manifests, "Deployment")["orders-relay"]
    [policy] = [
        policy
        for policy in _of_kind(manifests, "NetworkPolicy").values()
        if "Egress" in policy["spec"]["policyTypes"]
        and _selects(policy["spec"]["podSelector"]["matchLabels"], _pod_labels(relay))
    ]
    rules = policy["spec"]["egress"]
    ports = {(port["protocol"], port["port"]) for rule in rules for port in rule["ports"]}
    [web] = [rule for rule in rules if "to" in rule]

    assert ports == {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 80), ("TCP", 443)}
    assert {(port["protocol"], port["port"]) for port in web["ports"]} == {
        ("TCP", 80),
        ("TCP", 443),
    }
    [ipv4] = [peer["ipBlock"] for peer in web["to"] if peer["ipBlock"]["cidr"] == "0.0.0.0/0"]
    assert set(INTERNAL_NETWORKS) <= set(ipv4["except"])
    # Only the relay's egress is restricted.
    assert all(
        "Egress" not in other["spec"]["policyTypes"]
        for other in _of_kind(manifests, "NetworkPolicy").values()
        if other is not policy
    )


def test_every_service_sends_its_traces_to_the_collector_of_the_base(
    manifests: list[Manifest],
) -> None:
    config_maps = _of_kind(manifests, "ConfigMap")
    collector = _of_kind(manifests, "Deployment")["otel-collector"]
    service = _of_kind(manifests, "Service")["otel-collector"]

    for name in SERVICES:
        data = config_maps[f"{name}-config"]["data"]
        url = urlsplit(data["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert (url.hostname, url.port) == ("otel-collector", 4318), name
        assert data["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
        assert float(data["OTEL_TRACES_SAMPLER_ARG"]) == DEFAULT_TRACE_RATIO
    assert _selects(service["spec"]["selector"], _pod_labels(collector))


def test_the_collector_receives_otlp_and_forwards_it_to_the_backend_an_overlay_names(
    manifests: list[Manifest],
) -> None:
    config_map = _of_kind(manifests, "ConfigMap")["otel-collector"]
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    container = _only_container(_of_kind(manifests, "Deployment")["otel-collector"])
    [mount] = container["volumeMounts"]

    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
    [exporter] = config["service"]["pipelines"]["traces"]["exporters"]
    assert config["exporters"][exporter]["endpoint"] == "${env:TRACES_BACKEND_ENDPOINT}"
    assert "TRACES_BACKEND_ENDPOINT" in config_map["data"]
    assert container["args"] == [f"--config={mount['mountPath']}/config.yaml"]
    health = config["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"otlp-http": 4318, "health": int(health)}
    assert container["readinessProbe"]["httpGet"]["port"] == "health"
    # Its memory bound, under which it refuses spans, is below the container's limit.
    limit_mib = int(container["resources"]["limits"]["memory"].removesuffix("Mi"))
    assert config["processors"]["memory_limiter"]["limit_mib"] < limit_mib
