"""Communities in the hub table."""

from __future__ import annotations

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamo import keys
from chalicelib.adapters.dynamo.models import CommunityItem, HubItem
from chalicelib.adapters.dynamo.paging import decode_cursor, encode_cursor
from chalicelib.domain.community import Community
from chalicelib.domain.errors import Conflict
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


def _to_community(item: CommunityItem) -> Community:
    return Community(community_id=item.community_id, name=item.name, created_at_ms=int(item.created_at_ms))
