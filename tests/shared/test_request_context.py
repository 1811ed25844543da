from __future__ import annotations

import json
import logging
import uuid

import httpx
import pytest

from shared.logging import JsonFormatter


async def test_a_sane_client_request_id_is_echoed(frame_client: httpx.AsyncClient) -> None:
    response = await frame_client.get("/widgets/1", headers={"X-Request-ID": "client-abc.123"})

    assert response.headers["x-request-id"] == "client-abc.123"


@pytest.mark.parametrize(
    "sent", ["x" * 129, "has space", "tab\there", "ünïcode"], ids=["long", "space", "tab", "utf8"]
)
async def test_an_unsafe_request_id_is_replaced_by_a_uuid(
    frame_client: httpx.AsyncClient, sent: str
) -> None:
    response = await frame_client.get("/widgets/1", headers={b"X-Request-ID": sent.encode()})

    assert uuid.UUID(response.headers["x-request-id"])


async def test_without_a_request_id_each_request_gets_a_new_one(
    frame_client: httpx.AsyncClient,
) -> None:
    first = await frame_client.get("/widgets/1")
    second = await frame_client.get("/widgets/1")

    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_access_log_is_one_json_line_with_route_template_and_request_id(
    frame_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shared.access")

    await frame_client.get("/widgets/7", headers={"X-Request-ID": "log-me"})

    [record] = [r for r in caplog.records if r.name == "shared.access"]
    line = json.loads(JsonFormatter("frame").format(record))
    assert line["event"] == "request"
    assert line["request_id"] == "log-me"
    assert line["route"] == "/widgets/{widget_id}"
    assert line["path"] == "/widgets/7"
    assert line["status"] == 200
    assert line["service"] == "frame"


async def test_unhandled_exception_is_logged_with_its_traceback(
    frame_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await frame_client.get("/boom", headers={"X-Request-ID": "boom-1"})

    [record] = [r for r in caplog.records if r.getMessage() == "unhandled_exception"]
    line = json.loads(JsonFormatter("frame").format(record))
    assert line["request_id"] == "boom-1"
    assert "secret internal detail" in line["exception"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/widgets/1", 200),
        ("GET", "/nowhere", 404),
        ("POST", "/widgets", 422),
        ("GET", "/conflict", 409),
        ("GET", "/boom", 500),
        ("GET", "/health/live", 200),
        ("GET", "/metrics", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/docs", 200),
        ("HEAD", "/widgets/1", 200),
    ],
)
async def test_every_answer_tells_browsers_not_to_sniff_its_content_type(
    frame_client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await frame_client.request(method, path)

    assert response.status_code == status
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]
