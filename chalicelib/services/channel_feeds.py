"""The partner and TV channels.

Partners: an order event becomes a webhook delivery (services/webhooks.py dedupes by message id).

TV: the community's feed version moves on, so the large-print page (GET /tv/{cid}, which refreshes
itself) and any set-top integration can tell there is something new. A real cable-TV integration would
still need the operator's push API (or a playout system polling the version), a channel per community
and an agreement on how long a notice stays on air.
"""

from __future__ import annotations

from chalicelib.domain.webhooks import Delivery
from chalicelib.ports import Notification
from chalicelib.services import webhooks
from chalicelib.services.deps import Deps
from chalicelib.services.notify_fanout import once

#: what an order event for a partner carries besides the webhook payload
ENVELOPE_KEYS = ("audience", "message_id", "event_type")


def deliver_to_partner(deps: Deps, note: Notification) -> Delivery | None:
    """The webhook delivery made; None when there is nothing to do (no endpoint, enqueued before)."""
    partner_id = str(note.data["audience"]).removeprefix("partner:")
    payload = {k: v for k, v in note.data.items() if k not in ENVELOPE_KEYS}
    return webhooks.enqueue(deps, partner_id, note.community_id, note.type, payload, str(note.data["message_id"]))


def refresh_tv(deps: Deps, note: Notification) -> bool:
    """False if this event refreshed the feed already."""
    def refresh() -> None:
        deps.notify.book.refresh_tv(note.community_id, deps.clock.now_ms())

    return once(deps, f"tv#{note.key}", refresh)


def tv_feed(deps: Deps, community_id: str) -> tuple[int, int] | None:
    return deps.notify.book.tv_feed(community_id)
