"""The README's configuration tables are what `python -m <service> settings` prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from auth_service.__main__ import main as auth_main
from auth_service.config import AuthSettings
from gateway.__main__ import main as gateway_main
from gateway.config import GatewaySettings
from order_service.__main__ import main as orders_main
from order_service.config import OrdersSettings
from shared.cli import settings_table

README = Path(__file__).resolve().parent.parent / "README.md"
SERVICES: list[tuple[str, type[BaseSettings]]] = [
    ("gateway", GatewaySettings),
    ("auth_service", AuthSettings),
    ("order_service", OrdersSettings),
]


@pytest.mark.parametrize(("service", "settings"), SERVICES, ids=[name for name, _ in SERVICES])
def test_the_readme_lists_every_setting_as_the_code_defines_it(
    service: str, settings: type[BaseSettings]
) -> None:
    block = re.search(
        rf"<!-- settings:{service} -->\n(.*?)<!-- /settings:{service} -->",
        README.read_text(),
        re.DOTALL,
    )

    assert block is not None, f"README has no settings block for {service}"
    assert block.group(1) == settings_table(settings), (
        f"README is out of date: paste `python -m {service} settings` into its block"
    )


@pytest.mark.parametrize(("service", "settings"), SERVICES, ids=[name for name, _ in SERVICES])
def test_every_setting_says_what_it_is_for(service: str, settings: type[BaseSettings]) -> None:
    undescribed = [name for name, field in settings.model_fields.items() if not field.description]

    assert undescribed == []


def test_each_service_prints_its_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for (service, settings), main in zip(
        SERVICES, (gateway_main, auth_main, orders_main), strict=True
    ):
        monkeypatch.setattr("sys.argv", [service, "settings"])
        main()
        assert capsys.readouterr().out == settings_table(settings)
