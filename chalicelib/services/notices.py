"""Notices: staff publish and withdraw them; residents read theirs; the TV page shows the community's.

Publishing writes ``notice.published`` (and withdrawing ``notice.withdrawn``) to the outbox with the
notice, so the fan-out can tell residents and refresh the TV feed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain import notices as rules
from chalicelib.domain.community import Community
from chalicelib.domain.errors import BadInput, NotFound
from chalicelib.domain.identity import Principal
from chalicelib.domain.notices import Notice, TvInfo
from chalicelib.ports import OutboxEvent
from chalicelib.services import communities
from chalicelib.services.deps import Deps

#: notices the TV page shows at once (large print: more would not fit a screen)
TV_NOTICES = 5


def _event(event_type: str, notice: Notice) -> OutboxEvent:
    return OutboxEvent(type=event_type, community_id=notice.community_id, key=notice.notice_id,
                       data={"notice_id": notice.notice_id, "title": notice.title,
                             "buildings": list(notice.buildings)})


def publish(deps: Deps, principal: Principal, community_id: str, body: Mapping[str, Any]) -> Notice:
    communities.require_community(deps, community_id)
    notice = rules.new_notice(deps.ids.new_id("nt"), community_id, body, deps.clock.now_ms(),
                              principal.actor)
    deps.notices.publish(notice, _event("notice.published", notice))
    return notice


def withdraw(deps: Deps, community_id: str, notice_id: str) -> None:
    notice = deps.notices.get(community_id, notice_id)
    if notice is None:
        raise NotFound("notice not found", code="notice_not_found")
    deps.notices.remove(notice, _event("notice.withdrawn", notice), deps.clock.now_ms())


def community_notices(deps: Deps, community_id: str) -> list[Notice]:
    """Staff: every notice still current, newest first."""
    communities.require_community(deps, community_id)
    now = deps.clock.now_ms()
    return [n for n in deps.notices.list_for_community(community_id, rules.MAX_LISTED) if n.current(now)]


def my_notices(deps: Deps, principal: Principal) -> list[Notice]:
    """A resident: their community's current notices for everyone or for their building, newest first."""
    resident = deps.residents.get(principal.subject)
    if resident is None or not resident.community_id:
        raise BadInput("set your residence first (PUT /v1/me/residence)", code="no_residence")
    now = deps.clock.now_ms()
    return [n for n in deps.notices.list_for_community(resident.community_id, rules.MAX_LISTED)
            if n.current(now) and n.for_building(resident.building)]


def set_tv_info(deps: Deps, community_id: str, body: Mapping[str, Any]) -> TvInfo:
    communities.require_community(deps, community_id)
    info = rules.parse_tv_info(body)
    deps.notices.set_tv_info(community_id, info)
    return info


@dataclass(frozen=True)
class TvPage:
    community: Community
    notices: list[Notice]
    info: TvInfo


def tv_page(deps: Deps, community_id: str) -> TvPage:
    """What the cable-TV channel shows: whole-community notices, service phones, the weather note."""
    community = communities.require_community(deps, community_id)
    now = deps.clock.now_ms()
    shown = [n for n in deps.notices.list_for_community(community_id, rules.MAX_LISTED)
             if n.current(now) and not n.buildings][:TV_NOTICES]
    return TvPage(community=community, notices=shown, info=deps.notices.tv_info(community_id) or TvInfo())
