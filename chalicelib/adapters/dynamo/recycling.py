"""Weigh-ins: read everything a credit needs in one BatchGetItem, write it in one TransactWriteItems."""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from chalicelib.adapters.dynamo import keys, txn
from chalicelib.adapters.dynamo.communities import to_terms
from chalicelib.adapters.dynamo.devices import add_seen, seen_item, to_device
from chalicelib.adapters.dynamo.ledger import add_transfer
from chalicelib.adapters.dynamo.models import (
    CapItem,
    DeviceItem,
    HubItem,
    PhoneItem,
    SeenEventItem,
    TermsItem,
    WeighinItem,
)
from chalicelib.adapters.dynamo.paging import decode_cursor, encode_cursor
from chalicelib.domain.device_messages import DeviceMessage
from chalicelib.domain.devices import Device
from chalicelib.domain.ledger import Transfer
from chalicelib.domain.recycling import CommunityTerms, WeighinRecord, china_day
from chalicelib.ports import DailyCap, OutboxEvent, Page, WeighinContext, WeighinOutcome

#: cap counters outlive their day by a little, for support questions about "why was I refused"
CAP_TTL_S = 3 * 24 * 3600


def to_weighin(item: WeighinItem) -> WeighinRecord:
    return WeighinRecord(
        community_id=item.community_id, thing_name=item.thing_name, event_id=item.event_id,
        category=item.category, weight_g=int(item.weight_g), price_fen_per_kg=int(item.price_fen_per_kg),
        credit_fen=int(item.credit_fen), ts_ms=int(item.ts_ms), received_at_ms=int(item.received_at_ms),
        phone_key=item.phone_key, phone_masked=item.phone_masked, resident_id=item.resident_id,
        transfer_id=item.transfer_id)


class DynamoRecyclingBook:
    def __init__(self, dedupe_ttl_s: int) -> None:
        self._dedupe_ttl_s = dedupe_ttl_s

    def load_weighin(self, thing_name: str, event_id: str, cap: DailyCap, with_terms: bool) -> WeighinContext:
        wanted = [keys.device(thing_name), keys.seen_event(thing_name, event_id), keys.phone(cap.phone_key),
                  keys.daily_cap(cap.community_id, cap.phone_key, cap.day)]
        if with_terms:
            wanted.append(keys.terms(cap.community_id))
        device: Device | None = None
        seen = False
        owner = None
        credited = 0
        terms: CommunityTerms | None = CommunityTerms() if with_terms else None
        for item in HubItem.batch_get(wanted, consistent_read=True):
            if isinstance(item, DeviceItem):
                device = to_device(item)
            elif isinstance(item, SeenEventItem):
                seen = True
            elif isinstance(item, PhoneItem):
                owner = item.resident_id
            elif isinstance(item, CapItem):
                credited = int(item.credited_fen)
            elif isinstance(item, TermsItem):
                terms = to_terms(item)
        return WeighinContext(device=device, seen=seen, owner_resident_id=owner, credited_today_fen=credited,
                              terms=terms)

    def record_weighin(self, message: DeviceMessage, advance_last_seen: bool, record: WeighinRecord,
                       transfer: Transfer | None, cap: DailyCap, event: OutboxEvent | None) -> WeighinOutcome:
        if record.credit_fen > cap.cap_fen:  # the counter's condition cannot see a first credit of the day
            return WeighinOutcome.CAP_REACHED
        seen = seen_item(message, self._dedupe_ttl_s)
        cap_pk, cap_sk = keys.daily_cap(cap.community_id, cap.phone_key, cap.day)
        phone_pk, phone_sk = keys.phone(record.phone_key)
        tw = txn.write()
        try:
            with tw:
                add_seen(tw, seen, message, advance_last_seen)
                if transfer is not None:
                    add_transfer(tw, transfer)
                tw.save(self._weighin_item(record))
                tw.update(CapItem(cap_pk, cap_sk),
                          actions=[CapItem.credited_fen.add(record.credit_fen), CapItem.type.set(CapItem),
                                   CapItem.expires_at.set(message.received_at_ms // 1000 + CAP_TTL_S)],
                          condition=CapItem.credited_fen.does_not_exist()
                          | (CapItem.credited_fen <= cap.cap_fen - record.credit_fen))
                owner_unchanged = (PhoneItem.resident_id == record.resident_id if record.resident_id
                                   else HubItem.pk.does_not_exist())
                tw.condition_check(PhoneItem, phone_pk, phone_sk, condition=owner_unchanged)
                if event is not None:
                    tw.save(txn.outbox_item(event, message.received_at_ms))
        except TransactWriteError as exc:
            failed = txn.failed_keys(tw, exc)
            if seen.pk in failed or (transfer and keys.transfer(transfer.transfer_id)[0] in failed):
                return WeighinOutcome.DUPLICATE
            if phone_pk in failed:
                return WeighinOutcome.OWNER_CHANGED
            if cap_pk in failed:
                return WeighinOutcome.CAP_REACHED
            if keys.device(message.thing_name)[0] in failed:
                # A newer message moved last_seen past this one meanwhile: credit without moving it.
                return self.record_weighin(message, False, record, transfer, cap, event)
            raise
        return WeighinOutcome.RECORDED

    @staticmethod
    def _weighin_item(record: WeighinRecord) -> WeighinItem:
        sk = f"{record.received_at_ms:013d}#{record.thing_name}#{record.event_id}"
        return WeighinItem(
            keys.weighins_of_phone(record.phone_key), sk,
            community_id=record.community_id, thing_name=record.thing_name, event_id=record.event_id,
            category=record.category, weight_g=record.weight_g, price_fen_per_kg=record.price_fen_per_kg,
            credit_fen=record.credit_fen, ts_ms=record.ts_ms, received_at_ms=record.received_at_ms,
            phone_key=record.phone_key, phone_masked=record.phone_masked, resident_id=record.resident_id,
            transfer_id=record.transfer_id,
            gsi1pk=keys.weighins_of_day(record.community_id, china_day(record.received_at_ms)), gsi1sk=sk)

    def weighins_of_phone(self, phone_key: str, limit: int, cursor: str | None) -> Page[WeighinRecord]:
        pk = keys.weighins_of_phone(phone_key)
        result = WeighinItem.query(pk, scan_index_forward=False, limit=limit,
                                   last_evaluated_key=decode_cursor(cursor, "pk", pk))
        items = [to_weighin(item) for item in result]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))

    def weighins_of_day(self, community_id: str, day: str, limit: int, cursor: str | None) -> Page[WeighinRecord]:
        partition = keys.weighins_of_day(community_id, day)
        result = HubItem.by_gsi1.query(partition, scan_index_forward=False, limit=limit,
                                       last_evaluated_key=decode_cursor(cursor, "gsi1pk", partition))
        items = [to_weighin(item) for item in result if isinstance(item, WeighinItem)]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))
