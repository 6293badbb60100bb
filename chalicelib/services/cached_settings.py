"""A community's settings as device rules read them: through the per-container terms cache.

Bins, doors, meters, soil sensors and the console's device list all judge by the community's settings;
reading them from DynamoDB for every message would add a read to the device path. Staff changes clear
the cache of the container that made them and reach the others within the cache's TTL (30 s).
"""

from __future__ import annotations

from chalicelib.domain.recycling import CommunitySettings, CommunityTerms
from chalicelib.services.deps import Deps


def community_settings(deps: Deps, community_id: str) -> CommunitySettings:
    """Settings through the per-container cache (a device message must not pay a read for them)."""
    now = deps.clock.now_ms()
    terms: CommunityTerms | None = deps.terms_cache.get(community_id, now)
    if terms is None:
        terms = deps.communities.terms(community_id)
        deps.terms_cache.put(community_id, terms, now)
    return terms.settings
