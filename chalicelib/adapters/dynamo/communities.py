"""Communities in the hub table."""

from __future__ import annotations

from collections.abc import Mapping

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamo import keys
from chalicelib.adapters.dynamo.models import CommunityItem, HubItem, TermsItem
from chalicelib.adapters.dynamo.paging import decode_cursor, encode_cursor
from chalicelib.domain.community import Community
from chalicelib.domain.errors import Conflict
from chalicelib.domain.recycling import CommunitySettings, CommunityTerms
from chalicelib.ports import Page


class DynamoCommunities:
    def add(self, community: Community) -> None:
        pk, sk = keys.community(community.community_id)
        item = CommunityItem(pk, sk, community_id=community.community_id, name=community.name,
                             created_at_ms=community.created_at_ms,
                             gsi1pk="COMMUNITIES", gsi1sk=community.community_id)
        try:
            item.save(condition=HubItem.pk.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise Conflict("community already exists", code="community_exists") from exc
            raise

    def get(self, community_id: str) -> Community | None:
        pk, sk = keys.community(community_id)
        try:
            item = CommunityItem.get(pk, sk)
        except CommunityItem.DoesNotExist:
            return None
        return _to_community(item)

    def list_all(self, limit: int, cursor: str | None) -> Page[Community]:
        result = HubItem.by_gsi1.query("COMMUNITIES", limit=limit,
                                       last_evaluated_key=decode_cursor(cursor, "gsi1pk", "COMMUNITIES"))
        items = [_to_community(item) for item in result if isinstance(item, CommunityItem)]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))

    def terms(self, community_id: str) -> CommunityTerms:
        pk, sk = keys.terms(community_id)
        try:
            return to_terms(TermsItem.get(pk, sk, consistent_read=True))
        except TermsItem.DoesNotExist:
            return CommunityTerms()

    def set_prices(self, community_id: str, prices: Mapping[str, int]) -> None:
        pk, sk = keys.terms(community_id)
        TermsItem(pk, sk).update(actions=[TermsItem.prices.set(dict(prices)), TermsItem.type.set(TermsItem)])

    def set_settings(self, community_id: str, settings: CommunitySettings) -> None:
        pk, sk = keys.terms(community_id)
        TermsItem(pk, sk).update(actions=[TermsItem.settings.set(settings.as_dict()), TermsItem.type.set(TermsItem)])


def to_terms(item: TermsItem) -> CommunityTerms:
    prices = {str(k): int(v) for k, v in (item.prices or {}).items()}
    return CommunityTerms(prices=prices, settings=CommunitySettings.from_stored(item.settings))


def _to_community(item: CommunityItem) -> Community:
    return Community(community_id=item.community_id, name=item.name, created_at_ms=int(item.created_at_ms))
