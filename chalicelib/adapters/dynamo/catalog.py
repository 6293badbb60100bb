"""A community's services, partner companies and staff."""

from __future__ import annotations

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamo import keys
from chalicelib.adapters.dynamo.models import HubItem, PartnerItem, ServiceItem, StaffItem
from chalicelib.domain.catalog import FulfilledBy, Service
from chalicelib.domain.errors import Conflict
from chalicelib.domain.partners import KeyHash, Partner
from chalicelib.domain.staff import StaffMember, StaffRole

MAX_LISTED = 500  # a community has tens of services, partners and staff, not thousands


def to_service(item: ServiceItem) -> Service:
    return Service(community_id=item.community_id, service_id=item.service_id, name=item.name,
                   price_fen=int(item.price_fen), fulfilled_by=FulfilledBy(item.fulfilled_by),
                   accept_sla_s=int(item.accept_sla_s), complete_sla_s=int(item.complete_sla_s),
                   active=bool(item.active))


class DynamoCatalog:
    def put_service(self, service: Service) -> None:
        pk, sk = keys.service(service.community_id, service.service_id)
        ServiceItem(pk, sk, community_id=service.community_id, service_id=service.service_id, name=service.name,
                    price_fen=service.price_fen, fulfilled_by=service.fulfilled_by.value,
                    accept_sla_s=service.accept_sla_s, complete_sla_s=service.complete_sla_s,
                    active=int(service.active)).save()

    def get_service(self, community_id: str, service_id: str) -> Service | None:
        pk, sk = keys.service(community_id, service_id)
        try:
            return to_service(ServiceItem.get(pk, sk))
        except ServiceItem.DoesNotExist:
            return None

    def list_services(self, community_id: str) -> list[Service]:
        pk, _ = keys.service(community_id, "")
        found = HubItem.query(pk, HubItem.sk.startswith("SERVICE#"), limit=MAX_LISTED)
        return [to_service(item) for item in found if isinstance(item, ServiceItem)]


def to_partner(item: PartnerItem) -> Partner:
    hashes = tuple(KeyHash(str(d), None if exp is None else int(exp)) for d, exp in item.key_hashes or [])
    return Partner(partner_id=item.partner_id, community_id=item.community_id, name=item.name,
                   services=tuple(item.services or ()), stripe_account=item.stripe_account,
                   created_at_ms=int(item.created_at_ms), key_hashes=hashes, active=bool(item.active))


def _hashes(key_hashes: tuple[KeyHash, ...]) -> list[list[object]]:
    return [[h.digest, h.expires_at_ms] for h in key_hashes]


class DynamoPartners:
    def add(self, partner: Partner) -> None:
        pk, sk = keys.partner(partner.partner_id)
        item = PartnerItem(pk, sk, partner_id=partner.partner_id, community_id=partner.community_id,
                           name=partner.name, services=list(partner.services), stripe_account=partner.stripe_account,
                           created_at_ms=partner.created_at_ms, key_hashes=_hashes(partner.key_hashes),
                           active=int(partner.active), gsi1pk=keys.partners_of(partner.community_id),
                           gsi1sk=f"{partner.created_at_ms:013d}#{partner.partner_id}")
        try:
            item.save(condition=HubItem.pk.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise Conflict("partner already exists", code="partner_exists") from exc
            raise

    def get(self, partner_id: str) -> Partner | None:
        pk, sk = keys.partner(partner_id)
        try:
            return to_partner(PartnerItem.get(pk, sk))
        except PartnerItem.DoesNotExist:
            return None

    def list_for_community(self, community_id: str) -> list[Partner]:
        found = HubItem.by_gsi1.query(keys.partners_of(community_id), limit=MAX_LISTED)
        return [to_partner(item) for item in found if isinstance(item, PartnerItem)]

    def set_key_hashes(self, partner_id: str, key_hashes: tuple[KeyHash, ...]) -> None:
        pk, sk = keys.partner(partner_id)
        PartnerItem(pk, sk).update(actions=[PartnerItem.key_hashes.set(_hashes(key_hashes))],
                                   condition=HubItem.pk.exists())


class DynamoStaffRoster:
    def add(self, member: StaffMember) -> None:
        pk, sk = keys.staff(member.staff_id)
        StaffItem(pk, sk, staff_id=member.staff_id, community_id=member.community_id, name=member.name,
                  role=member.role.value, created_at_ms=member.created_at_ms,
                  gsi1pk=keys.staff_of(member.community_id),
                  gsi1sk=f"{member.created_at_ms:013d}#{member.staff_id}").save(condition=HubItem.pk.does_not_exist())

    def list_for_community(self, community_id: str) -> list[StaffMember]:
        found = HubItem.by_gsi1.query(keys.staff_of(community_id), limit=MAX_LISTED)
        return [StaffMember(i.staff_id, i.community_id, i.name, StaffRole(i.role), int(i.created_at_ms))
                for i in found if isinstance(i, StaffItem)]
