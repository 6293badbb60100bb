"""Outbox events become notifications: one message on the topic per audience (domain/notify.py).

Each channel queue's worker reads them back with ``parse`` and sends each at most once per recipient
(``once``): SQS delivers at least once, and the stream may publish an event again after a retry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.domain.notify import audiences
from chalicelib.ports import Notification
from chalicelib.services.deps import Deps


def publish(deps: Deps, event_type: str, community_id: str, key: str, data: Mapping[str, Any]) -> list[str]:
    """Publish the event to every audience it has; the audiences it went to."""
    sent = []
    now = deps.clock.now_ms()
    for audience in audiences(event_type, data):
        deps.notify.topic.publish(Notification(type=event_type, community_id=community_id, key=key,
                                               audience=audience.value, data=dict(data), at_ms=now))
        sent.append(audience.value)
    return sent


def parse(body: str) -> Notification:
    """A channel queue's message body (raw delivery: the JSON the topic was given). ValueError if it is not one."""
    doc = json.loads(body)
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), str) for k in ("type", "community_id", "key")):
        raise ValueError("not a notification")
    data = doc.get("data")
    return Notification(type=doc["type"], community_id=doc["community_id"], key=doc["key"],
                        audience=str(doc.get("audience", "")), data=data if isinstance(data, dict) else {},
                        at_ms=int(doc.get("at_ms") or 0))


def once(deps: Deps, mark: str, send: Callable[[], None]) -> bool:
    """Run ``send`` unless ``mark`` was sent before; False if it was. A failing send frees the mark again
    (and raises), so the redelivered message retries it."""
    book = deps.notify.book
    now = deps.clock.now_ms()
    if not book.claim(mark, now):
        return False
    try:
        send()
    except BaseException:
        book.release(mark)
        raise
    book.sent(mark, deps.clock.now_ms())
    return True
