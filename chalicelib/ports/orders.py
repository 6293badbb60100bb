"""Service orders: the catalog, partner companies, staff and the orders themselves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.catalog import Service
from chalicelib.domain.ledger import Transfer
from chalicelib.domain.orders import Order
from chalicelib.domain.partners import KeyHash, Partner
from chalicelib.domain.staff import StaffMember
from chalicelib.ports.core import (
    OutboxEvent,
    Page,
    SaveOutcome,
)


class Catalog(Protocol):
    """A community's services."""

    def put_service(self, service: Service) -> None: ...
    def get_service(self, community_id: str, service_id: str) -> Service | None: ...
    def list_services(self, community_id: str) -> list[Service]: ...


class Partners(Protocol):
    def add(self, partner: Partner) -> None: ...
    def get(self, partner_id: str) -> Partner | None: ...
    def list_for_community(self, community_id: str) -> list[Partner]:
        """Oldest first: offers go to partners in the order they were registered."""

    def set_key_hashes(self, partner_id: str, key_hashes: tuple[KeyHash, ...]) -> None: ...


class StaffRoster(Protocol):
    def add(self, member: StaffMember) -> None: ...
    def list_for_community(self, community_id: str) -> list[StaffMember]: ...


@dataclass(frozen=True)
class OrderWrite:
    """One order change and everything that goes with it, written in one transaction."""

    order: Order
    expected_version: int | None  # None: a new order (it must not exist)
    transfers: Sequence[Transfer] = ()
    events: Sequence[OutboxEvent] = ()
    link_partner: str | None = None  # the order was offered to this partner: list it for them
    applied_marker: str | None = None  # the id of the callback / partner event applied by this write
    idempotency: tuple[str, str] | None = None  # (Idempotency-Key, request hash), on create


class Orders(Protocol):
    def save(self, write: OrderWrite) -> SaveOutcome:
        """Raises IdempotencyReused when a create's Idempotency-Key was used before."""

    def get(self, order_id: str) -> Order | None: ...
    def list_for_resident(self, resident_id: str, limit: int, cursor: str | None) -> Page[Order]: ...
    def list_for_partner(self, partner_id: str, limit: int, cursor: str | None) -> Page[Order]: ...
    def staff_work(self, community_id: str, limit: int, cursor: str | None) -> Page[Order]:
        """Orders waiting for the property's own staff (staff services, declined and expired offers)."""

    def due_offers(self, now_ms: int, limit: int) -> list[Order]:
        """Offers whose acceptance deadline has passed."""

    def payments_due(self, created_before_ms: int, limit: int) -> list[Order]:
        """Orders still waiting for payment that were created before ``created_before_ms``."""

    def refunds_pending(self, limit: int) -> list[Order]: ...
