"""The auth service's part of a trace: password hashing and verification are spans of the
request they serve, done in the hashing thread."""

from __future__ import annotations

from auth_service.config import AuthSettings
from tests.auth_service.conftest import PASSWORD, auth_app_client
from tests.shared.tracing_support import receiver, trace_id_of
from tests.support.otlp import OtlpReceiver

__all__ = ["receiver"]  # the fixture


async def test_hashing_and_verifying_a_password_are_spans_of_their_requests(
    auth_settings: AuthSettings, receiver: OtlpReceiver
) -> None:
    traced = auth_settings.model_copy(
        update={
            "otel_exporter_otlp_traces_endpoint": receiver.traces_url,
            "otel_traces_sampler": "parentbased_always_on",
        }
    )
    async with auth_app_client(traced) as client:
        registered = await client.post(
            "/auth/register", json={"email": "trace@example.com", "password": PASSWORD}
        )
        signed_in = await client.post(
            "/auth/token",
            data={"grant_type": "password", "username": "trace@example.com", "password": PASSWORD},
        )

    assert registered.status_code == 201
    assert signed_in.status_code == 200
    for response, route, work in (
        (registered, "POST /auth/register", "hash password"),
        (signed_in, "POST /auth/token", "verify password"),
    ):
        spans = receiver.trace(trace_id_of(response.headers["traceresponse"]))
        [server] = [span for span in spans if span.kind == "SERVER"]
        [hashing] = [span for span in spans if span.name == work]
        assert server.name == route
        assert hashing.parent_span_id == server.span_id
        assert hashing.attributes == {
            "argon2.type": "id",
            "argon2.time_cost": 1,
            "argon2.memory_kib": 1024,
            "argon2.parallelism": 1,
        }
        assert not hashing.is_error
