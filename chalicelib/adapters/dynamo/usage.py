"""Meter windows, household usage per day, and who lives in a household.

A reading costs one consistent read (the meter's window) and one transaction: the window, conditional
on its version, plus an ADD to each China day whose hours the reading changed (at most three items). A
redelivered reading is found in the window and writes nothing; a concurrent reading of the same meter
makes the condition fail, and the service reads the window again.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pynamodb.exceptions import TransactWriteError

from chalicelib.adapters.dynamo import txn
from chalicelib.adapters.dynamo.models import HubItem
from chalicelib.adapters.dynamo.usage_models import (
    USAGE_TTL_S,
    HouseholdResidentItem,
    MeterWindowItem,
    UsageDayItem,
    household_key,
    meter_window_key,
    usage_of,
    usage_sk,
)
from chalicelib.domain.meters import DayUsage, MeterWindow, Placement, Point
from chalicelib.ports import SaveOutcome


def _window(item: MeterWindowItem) -> MeterWindow:
    points = tuple(Point(int(ts), int(milli), str(event_id)) for ts, milli, event_id in item.points)
    kept = int(item.kept_from_ms) if item.kept_from_ms is not None else None
    return MeterWindow(points=points, version=int(item.version), kept_from_ms=kept)


class DynamoUsageBook:
    def window(self, thing_name: str) -> MeterWindow:
        pk, sk = meter_window_key(thing_name)
        try:
            return _window(MeterWindowItem.get(pk, sk, consistent_read=True))
        except MeterWindowItem.DoesNotExist:
            return MeterWindow()

    def save(self, thing_name: str, community_id: str, household: str | None, unit: str, placement: Placement,
             expected_version: int, now_ms: int) -> SaveOutcome:
        pk, sk = meter_window_key(thing_name)
        window = placement.window
        item = MeterWindowItem(pk, sk, community_id=community_id, version=window.version,
                               kept_from_ms=window.kept_from_ms,
                               points=[[p.ts_ms, p.milli, p.event_id] for p in window.points])
        by_day: dict[str, dict[int, int]] = defaultdict(dict)
        for (day, hour), milli in placement.changes.items() if household is not None else ():
            by_day[day][hour] = by_day[day].get(hour, 0) + milli
        tw = txn.write()
        try:
            with tw:
                condition = (HubItem.pk.does_not_exist() if expected_version == 0
                             else MeterWindowItem.version == expected_version)
                tw.save(item, condition=condition)
                for day, hours in by_day.items():
                    assert household is not None
                    tw.update(UsageDayItem(usage_of(community_id, household), usage_sk(day, unit)),
                              actions=self._day_actions(community_id, household, day, unit, hours, now_ms))
        except TransactWriteError as exc:
            if pk in txn.failed_keys(tw, exc):
                return SaveOutcome.CONFLICT
            raise
        return SaveOutcome.SAVED

    @staticmethod
    def _day_actions(community_id: str, household: str, day: str, unit: str, hours: dict[int, int],
                     now_ms: int) -> list[Any]:
        actions: list[Any] = [
            UsageDayItem.type.set(UsageDayItem),
            UsageDayItem.community_id.set(community_id),
            UsageDayItem.household.set(household),
            UsageDayItem.day.set(day),
            UsageDayItem.unit.set(unit),
            UsageDayItem.expires_at.set(now_ms // 1000 + USAGE_TTL_S),
            UsageDayItem.total.add(sum(hours.values())),
        ]
        actions.extend(getattr(UsageDayItem, f"h{hour:02d}").add(milli) for hour, milli in sorted(hours.items()))
        return actions

    def days(self, community_id: str, household: str, first_day: str) -> list[DayUsage]:
        found = UsageDayItem.query(usage_of(community_id, household), UsageDayItem.sk >= first_day,
                                   scan_index_forward=False)
        return [DayUsage(day=str(i.day), unit=str(i.unit), milli=int(i.total or 0))
                for i in found if isinstance(i, UsageDayItem)]


class DynamoHouseholdBook:
    def add_resident(self, community_id: str, building: str, room: str, resident_id: str, now_ms: int) -> None:
        HouseholdResidentItem(household_key(community_id, building, room), f"RESIDENT#{resident_id}",
                              resident_id=resident_id, added_at_ms=now_ms).save()

    def residents(self, community_id: str, building: str, room: str) -> list[str]:
        found = HouseholdResidentItem.query(household_key(community_id, building, room), limit=20)
        return [i.resident_id for i in found if isinstance(i, HouseholdResidentItem)]
