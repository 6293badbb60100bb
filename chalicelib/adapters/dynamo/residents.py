"""Residents and the phones they bind."""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError, UpdateError

from chalicelib.adapters.dynamo import keys, txn
from chalicelib.adapters.dynamo.models import HubItem, PhoneItem, ResidentItem
from chalicelib.domain.errors import NotFound, PhoneTaken
from chalicelib.ports import Clock, Resident


def to_resident(item: ResidentItem) -> Resident:
    return Resident(resident_id=item.resident_id, openid=item.openid,
                    created_at_ms=int(item.created_at_ms),
                    phone_masked=item.phone_masked, phone_key=item.phone_key,
                    community_id=item.community_id, building=item.building, room=item.room)


class DynamoResidents:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def login(self, resident: Resident, session_key: str) -> Resident:
        pk, sk = keys.resident(resident.resident_id)
        item = ResidentItem(pk, sk)
        # One UpdateItem creates the resident on first login and refreshes the session key after.
        item.update(actions=[
            ResidentItem.resident_id.set(resident.resident_id),
            ResidentItem.openid.set(resident.openid),
            ResidentItem.created_at_ms.set(ResidentItem.created_at_ms | resident.created_at_ms),
            ResidentItem.session_key.set(session_key),
            ResidentItem.type.set(ResidentItem),
        ])
        return to_resident(item)

    def get(self, resident_id: str) -> Resident | None:
        pk, sk = keys.resident(resident_id)
        try:
            return to_resident(ResidentItem.get(pk, sk))
        except ResidentItem.DoesNotExist:
            return None

    def bind_phone(self, resident_id: str, phone_key: str, phone_masked: str) -> None:
        current = self.get(resident_id)
        if current is None:
            raise NotFound("resident not found", code="resident_not_found")
        if current.phone_key == phone_key:
            return
        now = self._clock.now_ms()
        ppk, psk = keys.phone(phone_key)
        rpk, rsk = keys.resident(resident_id)
        tw = txn.write()
        try:
            with tw:
                tw.save(PhoneItem(ppk, psk, resident_id=resident_id, bound_at_ms=now),
                        condition=HubItem.pk.does_not_exist() | (PhoneItem.resident_id == resident_id))
                tw.update(ResidentItem(rpk, rsk),
                          actions=[ResidentItem.phone_key.set(phone_key),
                                   ResidentItem.phone_masked.set(phone_masked)],
                          condition=HubItem.pk.exists())
                if current.phone_key:
                    old_pk, old_sk = keys.phone(current.phone_key)
                    tw.delete(PhoneItem(old_pk, old_sk), condition=PhoneItem.resident_id == resident_id)
        except TransactWriteError as exc:
            if ppk in txn.failed_keys(tw, exc):
                raise PhoneTaken("this phone number is bound to another resident") from exc
            raise

    def set_residence(self, resident_id: str, community_id: str, building: str, room: str) -> None:
        pk, sk = keys.resident(resident_id)
        try:
            ResidentItem(pk, sk).update(actions=[ResidentItem.community_id.set(community_id),
                                                 ResidentItem.building.set(building),
                                                 ResidentItem.room.set(room)],
                                        condition=HubItem.pk.exists())
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise NotFound("resident not found", code="resident_not_found") from exc
            raise
