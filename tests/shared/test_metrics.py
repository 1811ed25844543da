from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


async def test_requests_are_counted_by_route_template_not_raw_path(
    frame_client: httpx.AsyncClient,
) -> None:
    for widget_id in (1, 2, 3):
        await frame_client.get(f"/widgets/{widget_id}")
    await frame_client.get("/no/such/path")

    response = await frame_client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    counts = _samples(response.text, "http_requests_total")
    assert counts[(("method", "GET"), ("route", "/widgets/{widget_id}"), ("status", "200"))] == 3
    assert counts[(("method", "GET"), ("route", "<unmatched>"), ("status", "404"))] == 1
    assert not any("/widgets/1" in dict(labels).get("route", "") for labels in counts)


async def test_unhandled_exceptions_count_as_500(frame_client: httpx.AsyncClient) -> None:
    await frame_client.get("/boom")

    response = await frame_client.get("/metrics")

    counts = _samples(response.text, "http_requests_total")
    assert counts[(("method", "GET"), ("route", "/boom"), ("status", "500"))] == 1


async def test_latency_histogram_and_process_metrics_are_exposed(
    frame_client: httpx.AsyncClient,
) -> None:
    await frame_client.get("/widgets/1")

    text = (await frame_client.get("/metrics")).text

    buckets = _samples(text, "http_request_duration_seconds_count")
    assert buckets[(("method", "GET"), ("route", "/widgets/{widget_id}"))] == 1
    assert "process_resident_memory_bytes" in text
