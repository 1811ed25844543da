"""What can go wrong in the order service's use cases, as types (the life cycle's own are
in `lifecycle.py`).

Every `DomainError` has exactly one problem response (`order_service/api/problems.py`; a test
checks that none is missing). They know nothing of HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence


class DomainError(Exception):
    """The base of the errors a client can cause; anything else is a bug (a 500)."""


class OrderNotFound(DomainError):
    """No such order, or not one this identity may see: the two are indistinguishable."""


class StaleOrder(DomainError):
    """The client changes an order as it was at another version (`If-Match`)."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"the order is at version {current_version}")
        self.current_version = current_version


class UnknownProducts(DomainError):
    def __init__(self, product_ids: Sequence[uuid.UUID]) -> None:
        super().__init__(f"unknown products: {', '.join(map(str, product_ids))}")
        self.product_ids = list(product_ids)


class OutOfStock(DomainError):
    def __init__(self, product_id: uuid.UUID) -> None:
        super().__init__(f"not enough stock for product {product_id}")
        self.product_id = product_id


class ProductNotFound(DomainError):
    pass


class SkuTaken(DomainError):
    pass


class IdempotencyKeyReused(DomainError):
    """The key came back with a different request."""


class DisallowedWebhookUrl(DomainError):
    """Webhooks may not go to this URL: not http(s), credentials in it, or an address that is
    not public (the message says which)."""


class WebhookEndpointNotFound(DomainError):
    pass
