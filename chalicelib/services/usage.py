"""Meter readings → household usage (and the leak alarm); what residents and staff see of it.

A meter message's effect (``EFFECTS["meter"]``) may refuse a reading by the meter rules (went
backwards, implausible jump): the generic ingestion turns that into a reject record with the reason —
never counted, never reported as accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain import meters
from chalicelib.domain.alarms import AlarmSpec, Severity
from chalicelib.domain.device_messages import DeviceMessage, MeterReading
from chalicelib.domain.devices import Device
from chalicelib.domain.errors import BadInput, Conflict
from chalicelib.domain.identity import Principal
from chalicelib.domain.rejects import Rejected, RejectReason
from chalicelib.ports import SaveOutcome
from chalicelib.services import alarms, communities
from chalicelib.services.cached_settings import community_settings
from chalicelib.services.deps import Deps

MAX_RACES = 5


def count_reading(deps: Deps, message: DeviceMessage, device: Device) -> None:
    """The meter's effect (services/device_events.EFFECTS): place the reading in the meter's window and
    add the usage it moves to the household's days; ``Rejected`` for a reading the rules refuse."""
    reading = message.reading
    assert isinstance(reading, MeterReading)
    expected_unit = meters.UNIT_BY_DEVICE_TYPE.get(device.type.value)
    if reading.unit != expected_unit:
        raise Rejected(RejectReason.IMPLAUSIBLE_VALUE, f"a {device.type.value} reports {expected_unit}, "
                                                       f"not {reading.unit}")
    # A meter without building and room (a common-area meter) keeps its readings checked and in order, but
    # there is no household to add its usage to.
    household = device.household
    limit = meters.max_per_hour_milli(reading.unit, community_settings(deps, device.community_id))
    milli = meters.to_milli(reading.reading)
    for _ in range(MAX_RACES):
        window = deps.usage.window(device.thing_name)
        placement = meters.place(window, message.event_id, message.ts_ms, milli, limit)
        if placement.duplicate:
            return
        saved = deps.usage.save(device.thing_name, device.community_id, household, reading.unit, placement,
                                window.version, deps.clock.now_ms())
        if saved is SaveOutcome.SAVED:
            break
    else:
        raise Conflict("the meter's readings are changing too fast; try again", code="meter_busy")
    if reading.unit == "m3" and household is not None:
        night = meters.leak_night(placement.window, placement.changes)
        if night is not None:
            _raise_leak(deps, device, household, night)


def _raise_leak(deps: Deps, device: Device, household: str, night: str) -> None:
    assert device.building is not None and device.room is not None
    resident_id = household_resident(deps, device.community_id, device.building, device.room)
    alarms.raise_alarm(deps, AlarmSpec(
        community_id=device.community_id, kind="leak", dedup_key=f"leak:{household}:{night}",
        severity=Severity.CRITICAL, title="夜间持续用水，疑似漏水 (water ran all night: possible leak)",
        subject=household, resident_id=resident_id,
        detail={"household": household, "night": night, "thing_name": device.thing_name,
                "hours": [f"{h:02d}:00" for h in meters.LEAK_HOURS]}))


def household_resident(deps: Deps, community_id: str, building: str, room: str) -> str | None:
    """A resident who lives there now (the index keeps everyone who ever set that residence)."""
    for resident_id in deps.households.residents(community_id, building, room):
        resident = deps.residents.get(resident_id)
        if resident is not None and (resident.community_id, resident.building, resident.room) == (
                community_id, building, room):
            return resident_id
    return None


@dataclass(frozen=True)
class DayTotals:
    day: str  # YYYY-MM-DD
    water_l: int | None
    electricity_wh: int | None


def _totals(deps: Deps, community_id: str, household: str, days: int) -> list[DayTotals]:
    first = meters.first_day(deps.clock.now_ms(), days)
    by_day: dict[str, dict[str, int]] = {}
    for usage in deps.usage.days(community_id, household, first):
        by_day.setdefault(usage.day, {})[usage.unit] = usage.milli
    return [DayTotals(day=f"{d[:4]}-{d[4:6]}-{d[6:]}", water_l=u.get("m3"), electricity_wh=u.get("kWh"))
            for d, u in sorted(by_day.items(), reverse=True)]


def my_usage(deps: Deps, principal: Principal, days_raw: str | None) -> tuple[str, list[DayTotals]]:
    days = meters.parse_days(days_raw)
    resident = deps.residents.get(principal.subject)
    if resident is None or not (resident.community_id and resident.building and resident.room):
        raise BadInput("set your residence first (PUT /v1/me/residence)", code="no_residence")
    household = f"{resident.building}-{resident.room}"
    return household, _totals(deps, resident.community_id, household, days)


def household_usage(deps: Deps, community_id: str, building: str | None, room: str | None,
                    days_raw: str | None) -> tuple[str, list[DayTotals]]:
    days = meters.parse_days(days_raw)
    if not building or not room:
        raise BadInput("building and room are required", code="invalid_household")
    communities.require_community(deps, community_id)
    household = f"{building}-{room}"
    return household, _totals(deps, community_id, household, days)
