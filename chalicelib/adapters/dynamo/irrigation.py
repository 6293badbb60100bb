"""Irrigation zones and the water commands issued.

Staff's settings (threshold, skip days) and the watering state the soil readings move are separate
attributes of one zone item, each written with UpdateItem, so neither side overwrites the other's; the
watering state is conditional on its version, and a command is written in the same transaction.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pynamodb.exceptions import TransactWriteError

from chalicelib.adapters.dynamo import txn
from chalicelib.adapters.dynamo.irrigation_models import (
    COMMAND_TTL_S,
    WaterCommandItem,
    ZoneItem,
    commands_of,
    zone_sk,
    zones_of,
)
from chalicelib.adapters.dynamo.models import HubItem
from chalicelib.adapters.dynamo.paging import decode_cursor, encode_cursor
from chalicelib.domain.irrigation import WaterCommand, Zone
from chalicelib.ports import Page, SaveOutcome


def _command(data: Any) -> WaterCommand | None:
    return WaterCommand(**data) if data else None


def to_zone(community_id: str, item: ZoneItem) -> Zone:
    state: dict[str, Any] = dict(item.state or {})
    return Zone(community_id=community_id, zone=item.zone,
                moisture_pct=int(item.moisture_pct) if item.moisture_pct is not None else None,
                skip_days=tuple(item.skip_days or ()), resting=bool(state.get("resting", False)),
                last_reading_ts_ms=state.get("last_reading_ts_ms"), last_moisture_pct=state.get("last_moisture_pct"),
                last_command=_command(state.get("last_command")), version=int(item.version or 0))


class DynamoIrrigationBook:
    def zone(self, community_id: str, zone: str) -> Zone | None:
        try:
            return to_zone(community_id, ZoneItem.get(zones_of(community_id), zone_sk(zone), consistent_read=True))
        except ZoneItem.DoesNotExist:
            return None

    def zones(self, community_id: str) -> list[Zone]:
        found = ZoneItem.query(zones_of(community_id), ZoneItem.sk.startswith("ZONE#"))
        return [to_zone(community_id, i) for i in found if isinstance(i, ZoneItem)]

    def save(self, zone: Zone, expected_version: int | None, command: WaterCommand | None) -> SaveOutcome:
        pk = zones_of(zone.community_id)
        state = {"resting": zone.resting, "last_reading_ts_ms": zone.last_reading_ts_ms,
                 "last_moisture_pct": zone.last_moisture_pct,
                 "last_command": asdict(zone.last_command) if zone.last_command else None}
        expected = expected_version or 0
        condition = ZoneItem.version == expected
        if expected == 0:
            condition = condition | ZoneItem.version.does_not_exist()
        tw = txn.write()
        try:
            with tw:
                tw.update(ZoneItem(pk, zone_sk(zone.zone)),
                          actions=[ZoneItem.type.set(ZoneItem), ZoneItem.zone.set(zone.zone),
                                   ZoneItem.state.set(state), ZoneItem.version.set(zone.version)],
                          condition=condition)
                if command is not None:
                    sk = f"{command.ts_ms:013d}#{command.command_id}"
                    tw.save(WaterCommandItem(commands_of(zone.community_id), sk, data=asdict(command),
                                             expires_at=command.ts_ms // 1000 + COMMAND_TTL_S),
                            condition=HubItem.pk.does_not_exist())
        except TransactWriteError as exc:
            if pk in txn.failed_keys(tw, exc):
                return SaveOutcome.CONFLICT
            raise
        return SaveOutcome.SAVED

    def configure(self, zone: Zone) -> Zone:
        item = ZoneItem(zones_of(zone.community_id), zone_sk(zone.zone))
        threshold = (ZoneItem.moisture_pct.set(zone.moisture_pct) if zone.moisture_pct is not None
                     else ZoneItem.moisture_pct.remove())
        item.update(actions=[ZoneItem.type.set(ZoneItem), ZoneItem.zone.set(zone.zone), threshold,
                             ZoneItem.skip_days.set(list(zone.skip_days))])
        return to_zone(zone.community_id, item)

    def commands(self, community_id: str, limit: int, cursor: str | None) -> Page[WaterCommand]:
        pk = commands_of(community_id)
        found = WaterCommandItem.query(pk, scan_index_forward=False, limit=limit,
                                       last_evaluated_key=decode_cursor(cursor, "pk", pk))
        items = [WaterCommand(**i.data) for i in found if isinstance(i, WaterCommandItem)]
        return Page(items=items, next_cursor=encode_cursor(found.last_evaluated_key))
