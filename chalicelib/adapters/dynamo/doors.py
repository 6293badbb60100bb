"""Door access logs and visitor passes in DynamoDB."""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError, UpdateError

from chalicelib.adapters.dynamo import txn
from chalicelib.adapters.dynamo.doors_models import (
    AccessEntryItem,
    PassCodeItem,
    VisitorPassItem,
    access_sk,
    door_log,
    pass_code_key,
    pass_key,
    passes_of,
)
from chalicelib.adapters.dynamo.models import HubItem
from chalicelib.adapters.dynamo.paging import decode_cursor, encode_cursor
from chalicelib.domain.doors import ACCESS_LOG_TTL_S, PASS_RETENTION_S, AccessEntry, VisitorPass
from chalicelib.domain.errors import Conflict
from chalicelib.ports import Page


def _entry_item(entry: AccessEntry) -> AccessEntryItem:
    return AccessEntryItem(door_log(entry.community_id, entry.door),
                           access_sk(entry.ts_ms, entry.thing_name, entry.event_id),
                           community_id=entry.community_id, door=entry.door, thing_name=entry.thing_name,
                           event_id=entry.event_id, ts_ms=entry.ts_ms, result=entry.result, method=entry.method,
                           pass_id=entry.pass_id, expires_at=entry.ts_ms // 1000 + ACCESS_LOG_TTL_S)


def _to_entry(item: AccessEntryItem) -> AccessEntry:
    return AccessEntry(community_id=item.community_id, door=item.door, thing_name=item.thing_name,
                       event_id=item.event_id, ts_ms=int(item.ts_ms), result=item.result, method=item.method,
                       pass_id=item.pass_id)


def _optional_int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _to_pass(item: VisitorPassItem) -> VisitorPass:
    return VisitorPass(pass_id=item.pass_id, community_id=item.community_id, resident_id=item.resident_id,
                       building=item.building, room=item.room, code_hash=item.code_hash,
                       valid_from_ms=int(item.valid_from_ms), valid_until_ms=int(item.valid_until_ms),
                       created_at_ms=int(item.created_at_ms), visitor_name=item.visitor_name,
                       revoked_at_ms=_optional_int(item.revoked_at_ms), uses=int(item.uses or 0),
                       last_used_at_ms=_optional_int(item.last_used_at_ms))


class DynamoDoorBook:
    def log_access(self, entry: AccessEntry) -> None:
        _entry_item(entry).save()  # the key holds the event id: a redelivery overwrites the same entry

    def access_log(self, community_id: str, door: str, limit: int, cursor: str | None) -> Page[AccessEntry]:
        partition = door_log(community_id, door)
        result = HubItem.query(partition, scan_index_forward=False, limit=limit,
                               last_evaluated_key=decode_cursor(cursor, "pk", partition))
        return Page(items=[_to_entry(i) for i in result if isinstance(i, AccessEntryItem)],
                    next_cursor=encode_cursor(result.last_evaluated_key))

    def refusals(self, community_id: str, door: str, from_ms: int, to_ms: int) -> list[tuple[int, str]]:
        low, high = f"{max(from_ms, 0):013d}", f"{to_ms:013d}~"
        found = HubItem.query(door_log(community_id, door), HubItem.sk.between(low, high), consistent_read=True,
                              filter_condition=AccessEntryItem.result == "denied")
        return [(int(i.ts_ms), i.event_id) for i in found if isinstance(i, AccessEntryItem)]

    def add_pass(self, visitor_pass: VisitorPass) -> None:
        pk, sk = pass_key(visitor_pass.pass_id)
        code_pk, code_sk = pass_code_key(visitor_pass.code_hash)
        expires = visitor_pass.valid_until_ms // 1000 + PASS_RETENTION_S
        p = visitor_pass
        item = VisitorPassItem(pk, sk, pass_id=p.pass_id, community_id=p.community_id, resident_id=p.resident_id,
                               building=p.building, room=p.room, code_hash=p.code_hash,
                               valid_from_ms=p.valid_from_ms, valid_until_ms=p.valid_until_ms,
                               created_at_ms=p.created_at_ms, visitor_name=p.visitor_name, uses=0,
                               gsi1pk=passes_of(p.resident_id), gsi1sk=f"{p.created_at_ms:013d}#{p.pass_id}",
                               expires_at=expires)
        tw = txn.write()
        try:
            with tw:
                tw.save(item, condition=HubItem.pk.does_not_exist())
                tw.save(PassCodeItem(code_pk, code_sk, pass_id=p.pass_id, expires_at=expires),
                        condition=HubItem.pk.does_not_exist())
        except TransactWriteError as exc:
            if txn.failed_keys(tw, exc):
                raise Conflict("that pass exists already; try again", code="pass_conflict") from exc
            raise

    def get_pass(self, pass_id: str) -> VisitorPass | None:
        try:
            return _to_pass(VisitorPassItem.get(*pass_key(pass_id), consistent_read=True))
        except VisitorPassItem.DoesNotExist:
            return None

    def pass_by_code(self, code_hash: str) -> VisitorPass | None:
        try:
            pointer = PassCodeItem.get(*pass_code_key(code_hash), consistent_read=True)
        except PassCodeItem.DoesNotExist:
            return None
        return self.get_pass(pointer.pass_id)

    def passes_of(self, resident_id: str, limit: int, cursor: str | None) -> Page[VisitorPass]:
        partition = passes_of(resident_id)
        result = HubItem.by_gsi1.query(partition, scan_index_forward=False, limit=limit,
                                       last_evaluated_key=decode_cursor(cursor, "gsi1pk", partition))
        return Page(items=[_to_pass(i) for i in result if isinstance(i, VisitorPassItem)],
                    next_cursor=encode_cursor(result.last_evaluated_key))

    def revoke_pass(self, pass_id: str, at_ms: int) -> None:
        pk, sk = pass_key(pass_id)
        try:
            VisitorPassItem(pk, sk).update(actions=[VisitorPassItem.revoked_at_ms.set(at_ms)],
                                           condition=VisitorPassItem.revoked_at_ms.does_not_exist())
        except UpdateError as exc:
            if not txn.condition_failed(exc):
                raise  # revoked meanwhile is fine: the first revocation's time stands

    def pass_used(self, pass_id: str, entry: AccessEntry) -> None:
        pk, sk = pass_key(pass_id)
        with txn.write() as tw:
            tw.update(VisitorPassItem(pk, sk), actions=[VisitorPassItem.uses.add(1),
                                                        VisitorPassItem.last_used_at_ms.set(entry.ts_ms)],
                      condition=HubItem.pk.exists())
            tw.save(_entry_item(entry))
