"""The `monitoring` profile, checked by parsing it: Prometheus's config, Grafana's provisioning
and dashboard, against compose.yaml and the metrics the services actually register."""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from pydantic_settings import BaseSettings

from auth_service.app import create_app as create_auth_app
from auth_service.config import AuthSettings
from gateway.app import create_app as create_gateway_app
from gateway.config import GatewaySettings
from gateway.routes import ROUTES
from order_service.app import create_app as create_orders_app
from order_service.config import OrdersSettings
from shared.logging import JsonFormatter
from shared.metrics import ServiceMetrics

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_CONFIG = ROOT / "deploy/prometheus/prometheus.yml"
GRAFANA = ROOT / "deploy/grafana"
DASHBOARD = GRAFANA / "dashboards/order-platform.json"
MONITORING_SERVICES = {"prometheus", "grafana", "otel-collector", "jaeger", "loki", "alloy"}
# The monitoring services whose healthcheck compose runs (Jaeger's image has its own; the
# collector's and Alloy's images have nothing to run one with).
HEALTHCHECKED = {"prometheus", "grafana", "loki"}
RULES = ROOT / "deploy/prometheus/rules"
COLLECTOR_CONFIG = ROOT / "deploy/otel-collector/config.yaml"
SETTINGS_BY_PACKAGE: dict[str, type[BaseSettings]] = {
    "gateway": GatewaySettings,
    "auth_service": AuthSettings,
    "order_service": OrdersSettings,
}


def _gateway_metrics() -> ServiceMetrics:
    metrics = ServiceMetrics()
    create_gateway_app(GatewaySettings(), metrics=metrics)
    return metrics


def _auth_metrics() -> ServiceMetrics:
    metrics = ServiceMetrics()
    create_auth_app(AuthSettings(), metrics=metrics)
    return metrics


def _orders_metrics() -> ServiceMetrics:
    metrics = ServiceMetrics()
    create_orders_app(OrdersSettings(), metrics=metrics)
    return metrics


# What each service's app registers, as it builds it.
SERVICE_METRICS: tuple[Callable[[], ServiceMetrics], ...] = (
    _gateway_metrics,
    _auth_metrics,
    _orders_metrics,
)
# The sample names a metric family of each type exposes, beside those it has samples for
# already (a labelled metric has none until it is first counted).
SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}
# PromQL words that look like metric names but are not.
PROMQL_KEYWORDS = {
    *("and", "or", "unless", "atan2", "bool", "offset", "inf", "nan"),
    *("by", "without", "on", "ignoring", "group_left", "group_right"),
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return document


@pytest.fixture(scope="module")
def prometheus_config() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    return document


@pytest.fixture(scope="module")
def datasource() -> dict[str, Any]:
    document = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    [source] = document["datasources"]
    assert isinstance(source, dict)
    return source


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return document


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """A service's bind mounts and volumes, as {source: target} (short syntax)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        mounts[source] = target
    return mounts


def _services_serving_metrics(compose: dict[str, Any]) -> dict[str, str]:
    """The compose services that run one of our servers, as {name: "host:port"}."""
    targets = {}
    for name, service in compose["services"].items():
        # One-shot jobs (migrations, keygen) override the image's `serve` command.
        if "build" not in service or "command" in service:
            continue
        package = service["build"]["args"]["SERVICE"]
        settings = SETTINGS_BY_PACKAGE[package]
        port_variable = f"{settings.model_config.get('env_prefix', '')}PORT"
        default_port = settings.model_fields["port"].default
        port = service.get("environment", {}).get(port_variable, default_port)
        targets[name] = f"{name}:{port}"
    return targets


def _scraped_targets(prometheus_config: dict[str, Any]) -> dict[str, list[str]]:
    return {
        job["job_name"]: [
            target for static in job["static_configs"] for target in static["targets"]
        ]
        for job in prometheus_config["scrape_configs"]
    }


def _exposed_metric_names(registry: CollectorRegistry) -> set[str]:
    names: set[str] = set()
    for family in registry.collect():
        suffixes = SAMPLE_SUFFIXES.get(family.type, ("",))
        names.update(f"{family.name}{suffix}" for suffix in suffixes)
        names.update(sample.name for sample in family.samples)
    return names


def metric_names_in(expression: str) -> set[str]:
    """The metric names a PromQL expression selects (enough PromQL for dashboards)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', "", expression)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery durations
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\$\w+", "", text)  # Grafana variables
    text = re.sub(r"(?<![\w:])\d[\w.]*", "", text)  # numbers and durations
    names = set()
    for match in re.finditer(r"[A-Za-z_:][\w:]*", text):
        is_function = text[match.end() :].lstrip().startswith("(")
        if not is_function and match.group().lower() not in PROMQL_KEYWORDS:
            names.add(match.group())
    return names


def _expressions(dashboard: dict[str, Any]) -> Iterator[str]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield target["expr"]


def test_prometheus_scrapes_every_service_on_its_port(
    compose: dict[str, Any], prometheus_config: dict[str, Any]
) -> None:
    expected = {name: [target] for name, target in _services_serving_metrics(compose).items()}

    assert set(expected) == {"gateway", "auth", "orders"}
    assert _scraped_targets(prometheus_config) == expected


def test_every_scraped_series_is_labelled_with_its_service(
    prometheus_config: dict[str, Any],
) -> None:
    assert prometheus_config["global"]["scrape_interval"] == "15s"
    for job in prometheus_config["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics"
        for static in job["static_configs"]:
            assert static["labels"]["service"] == job["job_name"]


def test_prometheus_shares_a_network_with_every_service_it_scrapes(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in _services_serving_metrics(compose):
        assert set(services["prometheus"]["networks"]) & set(services[name]["networks"]), name


def test_prometheus_reads_the_mounted_config(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    config_path = _mounts(prometheus)["./deploy/prometheus/prometheus.yml"]

    assert f"--config.file={config_path}" in prometheus["command"]
    assert prometheus["volumes"][0].endswith(":ro")


def test_grafana_datasource_is_the_stacks_prometheus(
    compose: dict[str, Any], datasource: dict[str, Any]
) -> None:
    assert datasource["type"] == "prometheus"
    assert datasource["isDefault"] is True
    assert datasource["url"] == "http://prometheus:9090"
    assert set(compose["services"]["prometheus"]["networks"]) & set(
        compose["services"]["grafana"]["networks"]
    )


def test_grafana_loads_the_mounted_provisioning_and_dashboards(compose: dict[str, Any]) -> None:
    mounts = _mounts(compose["services"]["grafana"])
    provider_file = GRAFANA / "provisioning/dashboards/order-platform.yml"
    [provider] = yaml.safe_load(provider_file.read_text())["providers"]

    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert provider["type"] == "file"
    assert provider["options"]["path"] == mounts["./deploy/grafana/dashboards"]
    assert all(volume.endswith(":ro") for volume in compose["services"]["grafana"]["volumes"])


def test_every_panel_queries_the_provisioned_datasource(
    dashboard: dict[str, Any], datasource: dict[str, Any]
) -> None:
    expected = {"type": "prometheus", "uid": datasource["uid"]}
    for panel in dashboard["panels"]:
        assert panel["datasource"] == expected, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == expected, panel["title"]


def test_dashboard_has_a_fixed_identity(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "order-platform"
    assert dashboard["title"] == "Order platform"
    assert dashboard["schemaVersion"] >= 39


def test_dashboard_panels_have_unique_ids_and_do_not_overlap(dashboard: dict[str, Any]) -> None:
    panels = dashboard["panels"]
    ids = [panel["id"] for panel in panels]
    cells: dict[tuple[int, int], str] = {}

    assert len(ids) == len(set(ids))
    for panel in panels:
        position = panel["gridPos"]
        assert min(position["w"], position["h"]) > 0, panel["title"]
        assert 0 <= position["x"] <= 24 - position["w"], panel["title"]
        for cell in itertools.product(
            range(position["x"], position["x"] + position["w"]),
            range(position["y"], position["y"] + position["h"]),
        ):
            assert cell not in cells, f"{panel['title']} overlaps {cells[cell]}"
            cells[cell] = panel["title"]


def test_dashboard_queries_rates_over_the_rate_interval(dashboard: dict[str, Any]) -> None:
    for expression in _expressions(dashboard):
        ranges = set(re.findall(r"\[([^\]]*)\]", expression))
        assert ranges == {"$__rate_interval"}, expression


def test_metric_names_are_read_from_promql() -> None:
    expression = (
        'histogram_quantile(0.99, sum by (route, le) (rate(a_seconds_bucket{route!~"/x|y"}'
        "[$__rate_interval]))) / on (route) group_left sum(b_total offset 5m) or vector(1e3)"
    )

    assert metric_names_in(expression) == {"a_seconds_bucket", "b_total"}


def test_every_metric_the_dashboard_queries_is_one_the_services_expose(
    dashboard: dict[str, Any],
) -> None:
    exposed = set().union(*(_exposed_metric_names(made().registry) for made in SERVICE_METRICS))
    queried = set().union(*(metric_names_in(expression) for expression in _expressions(dashboard)))

    assert queried
    assert queried <= exposed, f"not exposed by any service: {sorted(queried - exposed)}"


def test_monitoring_runs_only_in_its_profile_with_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    monitoring = {
        name for name, service in services.items() if "monitoring" in service.get("profiles", [])
    }

    assert monitoring == MONITORING_SERVICES
    for name in MONITORING_SERVICES:
        assert services[name]["profiles"] == ["monitoring"]
        assert services[name]["restart"] == "unless-stopped"
        # Pinned, never a moving tag.
        assert re.fullmatch(r"[\w/.-]+:v?\d+\.\d+\.\d+", services[name]["image"])
    for name in HEALTHCHECKED:
        assert services[name]["healthcheck"]["test"][0] == "CMD"
    for dependency in ("prometheus", "jaeger", "loki"):
        assert services["grafana"]["depends_on"][dependency]["condition"] == "service_healthy"


def test_monitoring_uis_are_published_on_loopback_only(compose: dict[str, Any]) -> None:
    for name in MONITORING_SERVICES:
        for port in compose["services"][name].get("ports", []):
            assert port.startswith("127.0.0.1:"), name


# The service level rules (unit-tested by `make rules` with promtool).


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in sorted(RULES.glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def _datasource(name: str) -> dict[str, Any]:
    document = yaml.safe_load((GRAFANA / f"provisioning/datasources/{name}.yml").read_text())
    [source] = document["datasources"]
    assert isinstance(source, dict)
    return source


def _route_patterns(expression: str) -> set[str]:
    """The regular expressions a PromQL expression matches `route` against (unescaped)."""
    return {
        re.sub(r"\\\\(.)", r"\1", pattern)
        for pattern in re.findall(r'route=~"((?:\\\\.|[^"\\\\])*)"', expression)
    }


def test_prometheus_loads_the_rules_compose_mounts(
    compose: dict[str, Any], prometheus_config: dict[str, Any]
) -> None:
    target = _mounts(compose["services"]["prometheus"])["./deploy/prometheus/rules"]

    assert prometheus_config["rule_files"] == [f"{target}/*.yml"]
    assert any(v.startswith("./deploy/prometheus/rules:") and v.endswith(":ro")
               for v in compose["services"]["prometheus"]["volumes"])  # fmt: skip


def test_prometheus_scrapes_openmetrics_and_keeps_its_exemplars(
    compose: dict[str, Any], prometheus_config: dict[str, Any]
) -> None:
    assert prometheus_config["global"]["scrape_protocols"][0] == "OpenMetricsText1.0.0"
    assert "--enable-feature=exemplar-storage" in compose["services"]["prometheus"]["command"]


def test_every_metric_the_rules_query_is_one_the_gateway_exposes(
    rules: list[dict[str, Any]],
) -> None:
    recorded = {rule["record"] for rule in rules if "record" in rule}
    queried = set().union(*(metric_names_in(rule["expr"]) for rule in rules)) - recorded

    assert queried == {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_count",
    }
    assert queried <= _exposed_metric_names(_gateway_metrics().registry)
    alerted = set().union(*(metric_names_in(r["expr"]) for r in rules if "alert" in r))
    assert alerted <= recorded


def test_the_objectives_cover_the_proxied_routes_and_nothing_else(
    rules: list[dict[str, Any]],
) -> None:
    availability = set().union(
        *(_route_patterns(r["expr"]) for r in rules if "error" in r.get("record", ""))
    )
    latency = set().union(
        *(_route_patterns(r["expr"]) for r in rules if "slow" in r.get("record", ""))
    )
    proxied = {
        template for route in ROUTES for template in (route.prefix, f"{route.prefix}/{{path:path}}")
    }
    not_the_api = {
        "/health/live",
        "/health/ready",
        "/metrics",
        "/docs",
        "/openapi.json",
        "<unmatched>",
    }

    [api] = availability
    [business] = latency
    assert {t for t in proxied | not_the_api if re.fullmatch(api, t)} == proxied
    assert {t for t in proxied | not_the_api if re.fullmatch(business, t)} == {
        t for t in proxied if t.startswith(("/orders", "/products"))
    }


def test_the_latency_threshold_is_a_bucket_of_the_histogram(rules: list[dict[str, Any]]) -> None:
    thresholds = {
        float(value) for rule in rules for value in re.findall(r'le="([^"]+)"', rule["expr"])
    }
    buckets = set(ServiceMetrics().request_duration._upper_bounds)

    assert thresholds == {0.25}
    assert thresholds <= buckets


def test_every_alert_pages_or_opens_a_ticket_about_one_objective(
    rules: list[dict[str, Any]],
) -> None:
    alerts = [rule for rule in rules if "alert" in rule]

    assert len(alerts) == 4
    for alert in alerts:
        assert alert["labels"]["severity"] in {"page", "ticket"}
        assert alert["labels"]["slo"] in {"availability", "latency"}
        assert alert["annotations"]["summary"]
        assert alert["annotations"]["description"]


# Traces: the services export to the collector, which forwards to Jaeger; Grafana links to them.


def test_the_services_send_their_traces_to_the_collector(compose: dict[str, Any]) -> None:
    collector = yaml.safe_load(COLLECTOR_CONFIG.read_text())
    services = compose["services"]
    makefile = (ROOT / "Makefile").read_text()

    assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
    assert "export OTEL_EXPORTER_OTLP_ENDPOINT ?= http://otel-collector:4318" in makefile
    for name in _services_serving_metrics(compose):
        environment = services[name]["environment"]
        assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "${OTEL_EXPORTER_OTLP_ENDPOINT:-}"
        assert set(services[name]["networks"]) & set(services["otel-collector"]["networks"])
    assert _mounts(services["otel-collector"])["./deploy/otel-collector/config.yaml"] in (
        services["otel-collector"]["command"][0].removeprefix("--config=")
    )


def test_the_collector_forwards_the_spans_to_jaeger(compose: dict[str, Any]) -> None:
    collector = yaml.safe_load(COLLECTOR_CONFIG.read_text())
    services = compose["services"]

    [pipeline] = collector["service"]["pipelines"].values()
    [exporter] = pipeline["exporters"]
    assert collector["exporters"][exporter]["endpoint"] == "jaeger:4317"
    assert (
        "--set=receivers.otlp.protocols.grpc.endpoint=0.0.0.0:4317" in services["jaeger"]["command"]
    )
    assert set(services["otel-collector"]["networks"]) & set(services["jaeger"]["networks"])
    assert services["jaeger"]["ports"] == ["127.0.0.1:16686:16686"]


def test_an_exemplar_opens_its_trace_in_grafana(datasource: dict[str, Any]) -> None:
    jaeger = _datasource("jaeger")

    assert jaeger["type"] == "jaeger"
    assert jaeger["url"] == "http://jaeger:16686"
    assert datasource["jsonData"]["exemplarTraceIdDestinations"] == [
        {"name": "trace_id", "datasourceUid": jaeger["uid"]}
    ]


def test_the_latency_panels_show_exemplars(dashboard: dict[str, Any]) -> None:
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            if "_duration_seconds_bucket" in target["expr"]:
                assert target.get("exemplar") is True, panel["title"]


def test_a_log_lines_trace_id_links_to_its_trace_and_back() -> None:
    loki, jaeger = _datasource("loki"), _datasource("jaeger")
    record = logging.makeLogRecord({"msg": "request", "trace_id": "ab" * 16})
    line = JsonFormatter("orders").format(record)

    [field] = loki["jsonData"]["derivedFields"]
    assert field["datasourceUid"] == jaeger["uid"]
    assert re.search(field["matcherRegex"], line).group(1) == "ab" * 16  # type: ignore[union-attr]
    assert field["url"] == "$${__value.raw}"  # `$$`: a literal `$` once provisioned
    to_logs = jaeger["jsonData"]["tracesToLogsV2"]
    assert to_logs["datasourceUid"] == loki["uid"]
    assert "$${__trace.traceId}" in to_logs["query"]


def test_logs_are_shipped_from_every_container_to_loki(compose: dict[str, Any]) -> None:
    services = compose["services"]
    alloy = (ROOT / "deploy/alloy/config.alloy").read_text()

    assert (
        _mounts(services["alloy"])["./deploy/alloy/config.alloy"] == services["alloy"]["command"][1]
    )
    assert _mounts(services["alloy"])["/var/run/docker.sock"] == "/var/run/docker.sock"
    assert all(volume.endswith(":ro") for volume in services["alloy"]["volumes"])
    assert 'url = "http://loki:3100/loki/api/v1/push"' in alloy
    assert 'target_label  = "service"' in alloy
    assert set(services["alloy"]["networks"]) & set(services["loki"]["networks"])
    assert set(services["grafana"]["networks"]) & set(services["loki"]["networks"])
