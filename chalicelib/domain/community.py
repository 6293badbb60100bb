"""A residential community (小区) and the settings its staff tune."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Community:
    community_id: str
    name: str
    created_at_ms: int


MAX_NAME_LENGTH = 100
