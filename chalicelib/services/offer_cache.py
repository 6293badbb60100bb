"""Who may be offered a community's orders, cached per container for 30 s.

Every payment callback, partner decline and SLA expiry needs the community's partners (a GSI query) and
the service's acceptance SLA (a read); both change only when staff edit them. Staff edits made through
this container are seen at once (``forget``); other containers see them within ``OFFER_TTL_MS``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from chalicelib.domain.catalog import Service
from chalicelib.domain.partners import Partner

OFFER_TTL_MS = 30_000


@dataclass(frozen=True)
class OfferTerms:
    services: dict[str, Service]
    partners: tuple[Partner, ...]  # oldest first

    def candidates(self, service_id: str) -> list[str]:
        """Active partners covering the service, in registration order."""
        return [p.partner_id for p in self.partners if p.active and service_id in p.services]


@dataclass
class OfferCache:
    ttl_ms: int = OFFER_TTL_MS
    _entries: dict[str, tuple[int, OfferTerms]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, community_id: str, now_ms: int) -> OfferTerms | None:
        with self._lock:
            entry = self._entries.get(community_id)
        return entry[1] if entry is not None and entry[0] > now_ms else None

    def put(self, community_id: str, terms: OfferTerms, now_ms: int) -> None:
        with self._lock:
            self._entries[community_id] = (now_ms + self.ttl_ms, terms)

    def forget(self, community_id: str) -> None:
        with self._lock:
            self._entries.pop(community_id, None)
