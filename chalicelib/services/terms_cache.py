"""Community prices and settings, cached per container (a weigh-in must not pay a read for them)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from chalicelib.domain.recycling import CommunityTerms

#: how long a container trusts the prices it read (staff changes reach every container within this)
TERMS_TTL_MS = 30_000


@dataclass
class TermsCache:
    """Community prices and settings, cached per container for ``ttl_ms``."""

    ttl_ms: int = TERMS_TTL_MS
    _entries: dict[str, tuple[int, CommunityTerms]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, community_id: str, now_ms: int) -> CommunityTerms | None:
        with self._lock:
            entry = self._entries.get(community_id)
        if entry is None or entry[0] <= now_ms:
            return None
        return entry[1]

    def put(self, community_id: str, terms: CommunityTerms, now_ms: int) -> None:
        with self._lock:
            self._entries[community_id] = (now_ms + self.ttl_ms, terms)

    def forget(self, community_id: str) -> None:
        with self._lock:
            self._entries.pop(community_id, None)
