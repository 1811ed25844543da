"""Starting tracing from the standard OpenTelemetry variables: where spans go, which are kept,
and nothing at all when no exporter is configured."""

from __future__ import annotations

import pytest

from shared.settings import DEFAULT_TRACE_RATIO, TraceSampler, TracingSettings
from shared.tracing import sampler_of, start_tracing
from tests.shared.conftest import build_frame_app, client_for
from tests.shared.tracing_support import receiver, traced
from tests.support.otlp import OtlpReceiver

__all__ = ["receiver"]  # the fixture


@pytest.mark.parametrize(
    ("environment", "url"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, None),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
            "http://collector:4318/v1/traces",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
            "http://collector:4318/v1/traces",
        ),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/t"}, "http://c:4318/t"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/t",
            },
            "http://c:4318/t",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"},
            None,
        ),
    ],
    ids=["unset", "empty", "base", "base-slash", "traces", "traces-first", "disabled"],
)
def test_spans_go_where_the_standard_variables_say(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], url: str | None
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    settings = TracingSettings()

    assert settings.otlp_traces_url == url
    assert (start_tracing(settings, "test_service") is None) == (url is None)


def test_by_default_a_callers_decision_is_followed_and_new_traces_kept_at_the_ratio() -> None:
    settings = TracingSettings()

    assert settings.otel_traces_sampler_arg == DEFAULT_TRACE_RATIO
    assert sampler_of(settings).get_description() == (
        f"ParentBased{{root:TraceIdRatioBased{{{DEFAULT_TRACE_RATIO}}},"
        "remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,"
        "localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}"
    )


@pytest.mark.parametrize(
    ("sampler", "description"),
    [
        ("traceidratio", "TraceIdRatioBased{0.25}"),
        ("always_on", "AlwaysOnSampler"),
        ("always_off", "AlwaysOffSampler"),
        ("parentbased_always_on", "ParentBased{root:AlwaysOnSampler,"),
        ("parentbased_always_off", "ParentBased{root:AlwaysOffSampler,"),
        ("parentbased_traceidratio", "ParentBased{root:TraceIdRatioBased{0.25},"),
    ],
)
def test_each_standard_sampler_is_offered(
    monkeypatch: pytest.MonkeyPatch, sampler: TraceSampler, description: str
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")

    assert sampler_of(TracingSettings()).get_description().startswith(description)


@pytest.mark.parametrize("ratio", ["-0.1", "1.5", "half"])
def test_a_ratio_outside_zero_to_one_is_refused(
    monkeypatch: pytest.MonkeyPatch, ratio: str
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", ratio)

    with pytest.raises(ValueError, match="OTEL_TRACES_SAMPLER_ARG"):
        TracingSettings()


async def test_spans_carry_the_configured_service_name(
    monkeypatch: pytest.MonkeyPatch, receiver: OtlpReceiver
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "orders-eu-1")

    async with client_for(build_frame_app(tracing=traced(receiver))) as client:
        await client.get("/widgets/1")

    assert [span.service for span in receiver.spans] == ["orders-eu-1"]
