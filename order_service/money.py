"""Money: `Decimal` with two places everywhere, a string on the wire, exact in every database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

CENT = Decimal("0.01")
CURRENCY = "USD"


def to_money(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def format_money(value: Decimal) -> str:
    return f"{to_money(value):.2f}"


class Money(TypeDecorator[Decimal]):
    """NUMERIC(18, 2) where the database has exact decimals; integer cents on SQLite.

    SQLite would store a NUMERIC as a float, so there the column holds cents instead.
    """

    impl = Numeric(18, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, 2, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> object:
        if value is None:
            return None
        value = to_money(value)
        return int(value / CENT) if dialect.name == "sqlite" else value

    def process_result_value(self, value: object, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            assert isinstance(value, int)
            return to_money(Decimal(value) * CENT)
        assert isinstance(value, Decimal)
        return to_money(value)
