"""What a household and a community share: meter usage, irrigation commands, notices."""

from __future__ import annotations

from typing import Protocol

from chalicelib.domain.irrigation import WaterCommand, Zone
from chalicelib.domain.meters import DayUsage, MeterWindow, Placement
from chalicelib.domain.notices import Notice, TvInfo
from chalicelib.ports.core import (
    OutboxEvent,
    Page,
    SaveOutcome,
)


class UsageBook(Protocol):
    """Meters' reading windows and households' usage per China day (chalicelib/domain/meters.py)."""

    def window(self, thing_name: str) -> MeterWindow: ...

    def save(self, thing_name: str, community_id: str, household: str | None, unit: str, placement: Placement,
             expected_version: int, now_ms: int) -> SaveOutcome:
        """The new window (conditional on ``expected_version``) and the household's hours (if it has one),
        in one transaction."""

    def days(self, community_id: str, household: str, first_day: str) -> list[DayUsage]:
        """Usage per day and unit from ``first_day`` (YYYYMMDD) on, newest first."""


class HouseholdBook(Protocol):
    """Who lives in a household (written when a resident sets their residence), for alarms about it."""

    def add_resident(self, community_id: str, building: str, room: str, resident_id: str, now_ms: int) -> None: ...
    def residents(self, community_id: str, building: str, room: str) -> list[str]: ...


class IrrigationBook(Protocol):
    def zone(self, community_id: str, zone: str) -> Zone | None: ...
    def zones(self, community_id: str) -> list[Zone]: ...

    def save(self, zone: Zone, expected_version: int | None, command: WaterCommand | None) -> SaveOutcome:
        """The zone's watering state (conditional on its version) and the command issued, if any."""

    def configure(self, zone: Zone) -> Zone:
        """Set the zone's threshold and skip days (staff), creating the zone if needed; the rest stays."""

    def commands(self, community_id: str, limit: int, cursor: str | None) -> Page[WaterCommand]: ...


class Commands(Protocol):
    """Commands to devices on ``cmd/linli/{cid}/{thing}/{command}`` (IoT Data; locally the MQTT broker)."""

    def publish(self, topic: str, payload: bytes) -> None: ...


class NoticeBoard(Protocol):
    def publish(self, notice: Notice, event: OutboxEvent) -> None: ...
    def get(self, community_id: str, notice_id: str) -> Notice | None: ...
    def remove(self, notice: Notice, event: OutboxEvent, now_ms: int) -> None: ...
    def list_for_community(self, community_id: str, limit: int) -> list[Notice]:
        """Newest first."""

    def tv_info(self, community_id: str) -> TvInfo | None: ...
    def set_tv_info(self, community_id: str, info: TvInfo) -> None: ...
