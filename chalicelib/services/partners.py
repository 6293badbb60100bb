"""Partner companies: registration (API key + webhook secret, each shown once), rotation, API-key auth."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.domain import partners as rules
from chalicelib.domain.errors import BadInput, NotFound, Unauthorized
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.partners import Partner
from chalicelib.services import communities, webhooks
from chalicelib.services.deps import Deps


@dataclass(frozen=True)
class Registered:
    partner: Partner
    api_key: str
    webhook_secret: str


def register_partner(deps: Deps, community_id: str, body: Mapping[str, Any]) -> Registered:
    communities.require_community(deps, community_id)
    name, services, stripe_account = rules.check_registration(body.get("name"), body.get("services"),
                                                              body.get("stripe_account"))
    known = {s.service_id for s in deps.catalog.list_services(community_id)}
    unknown = [s for s in services if s not in known]
    if unknown:
        raise BadInput(f"unknown services in this community: {unknown}", code="service_not_found")
    url = body.get("webhook_url")
    if not isinstance(url, str):
        raise BadInput("webhook_url is required", code="invalid_partner")
    partner_id = deps.ids.new_id("p")
    # the endpoint first: its URL check refuses an unsafe URL before the partner exists
    secret = webhooks.register_endpoint(deps, partner_id, community_id, url)
    api_key, key_hash = rules.new_api_key(deps.secrets.app_secrets().phone_pepper, partner_id)
    partner = Partner(partner_id=partner_id, community_id=community_id, name=name, services=services,
                      stripe_account=stripe_account, created_at_ms=deps.clock.now_ms(), key_hashes=(key_hash,))
    deps.partners.add(partner)
    deps.offer_cache.forget(community_id)
    return Registered(partner, api_key, secret)


def community_partner(deps: Deps, community_id: str, partner_id: str) -> Partner:
    partner = deps.partners.get(partner_id)
    if partner is None or partner.community_id != community_id:
        raise NotFound("partner not found", code="partner_not_found")
    return partner


def rotate_api_key(deps: Deps, community_id: str, partner_id: str) -> str:
    """A new key; the old one keeps working for 24 h so the partner can switch without downtime."""
    partner = community_partner(deps, community_id, partner_id)
    api_key, fresh = rules.new_api_key(deps.secrets.app_secrets().phone_pepper, partner_id)
    deps.partners.set_key_hashes(partner_id, rules.rotated(partner.key_hashes, fresh, deps.clock.now_ms()))
    return api_key


def authenticate(deps: Deps, api_key: str) -> Principal:
    partner = deps.partners.get(rules.partner_id_of_key(api_key))
    pepper = deps.secrets.app_secrets().phone_pepper
    if partner is None or not partner.active or not rules.key_matches(partner, pepper, api_key, deps.clock.now_ms()):
        raise Unauthorized("partner API key is not valid", code="invalid_token")
    return Principal(role=Role.PARTNER, subject=partner.partner_id, community_id=partner.community_id)


def without_keys(partner: Partner) -> Partner:
    return replace(partner, key_hashes=())
