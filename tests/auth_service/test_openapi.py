"""The auth service's OpenAPI document: valid, and saying what each operation answers."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from auth_service.app import create_app
from auth_service.config import AuthSettings

JSONObject = dict[str, Any]


@pytest.fixture(scope="module")
def document() -> JSONObject:
    # No resource is opened: the document needs none.
    built: JSONObject = create_app(AuthSettings()).openapi()
    return built


def test_the_document_is_valid_openapi_3_1(document: JSONObject) -> None:
    validate(document)


def test_the_token_endpoint_is_the_password_flows(document: JSONObject) -> None:
    flow = document["components"]["securitySchemes"]["PasswordGrant"]["flows"]["password"]
    assert flow["tokenUrl"] == "/auth/token"
    assert "/auth/token" in document["paths"]


def test_the_token_endpoints_errors_are_rfc_6749s(document: JSONObject) -> None:
    responses = document["paths"]["/auth/token"]["post"]["responses"]
    assert set(responses["400"]["content"]) == {"application/json"}
    assert "Retry-After" in responses["429"]["headers"]
    assert "422" not in responses


def test_registration_documents_a_taken_email(document: JSONObject) -> None:
    conflict = document["paths"]["/auth/register"]["post"]["responses"]["409"]
    assert conflict["x-problem-types"] == ["/problems/email-taken"]


def test_only_the_account_endpoint_needs_a_token(document: JSONObject) -> None:
    secured = {
        path for path, item in document["paths"].items() for op in item.values() if "security" in op
    }
    assert secured == {"/auth/me"}
