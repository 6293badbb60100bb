"""Staff define what residents can order; staff members get their tokens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain import staff as roles
from chalicelib.domain.catalog import Service, define_service
from chalicelib.domain.identity import Principal, Role, issue_token
from chalicelib.domain.staff import StaffMember
from chalicelib.services import communities
from chalicelib.services.deps import Deps


def put_service(deps: Deps, community_id: str, service_id: str, body: Mapping[str, Any]) -> Service:
    communities.require_community(deps, community_id)
    service = define_service(community_id, service_id, dict(body))
    deps.catalog.put_service(service)
    deps.offer_cache.forget(community_id)
    return service


def list_services(deps: Deps, community_id: str) -> list[Service]:
    communities.require_community(deps, community_id)
    return deps.catalog.list_services(community_id)


@dataclass(frozen=True)
class StaffToken:
    member: StaffMember
    token: str


def add_staff(deps: Deps, community_id: str, body: Mapping[str, Any]) -> StaffToken:
    communities.require_community(deps, community_id)
    member = StaffMember(staff_id=deps.ids.new_id("s"), community_id=community_id,
                         name=roles.check_name(body.get("name")), role=roles.parse_role(body.get("role")),
                         created_at_ms=deps.clock.now_ms())
    phone = roles.check_phone(body.get("phone"))
    deps.staff.add(member)
    if phone is not None and deps.notify_deps is not None:  # texted with alerts (notification fan-out)
        deps.notify_deps.contacts.set_phone(f"staff:{member.staff_id}", phone)
    secrets = deps.secrets.app_secrets()
    principal = Principal(role=Role.STAFF, subject=member.staff_id, community_id=community_id,
                          staff_role=member.role.value)
    token = issue_token(secrets.token_keys[secrets.current_kid], secrets.current_kid, principal,
                        member.created_at_ms // 1000, roles.STAFF_TOKEN_TTL_S)
    return StaffToken(member, token)
