"""Soil readings water the zones; staff set a zone's threshold and skip days.

The decision and the command are written first (zone state + command record, one transaction), then
the command is published. If publishing fails, the message is redelivered: the zone's last command then
names this very reading, and the same command (same ``command_id``) is published again — a redelivered
reading never asks for a second run, and a device seeing one command id twice runs it once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from chalicelib.domain import irrigation as rules
from chalicelib.domain.device_messages import DeviceMessage, Soil
from chalicelib.domain.devices import Device
from chalicelib.domain.errors import BadInput, Conflict
from chalicelib.domain.irrigation import Verdict, WaterCommand, Zone
from chalicelib.ports import Page, SaveOutcome
from chalicelib.services import communities
from chalicelib.services.cached_settings import community_settings
from chalicelib.services.deps import Deps

MAX_RACES = 5
WATER = "water"


def zone_of(device: Device) -> str:
    """An irrigation controller waters its ``location`` (the zone); one registered without it is its own."""
    return device.location or device.thing_name


def command_topic(community_id: str, thing_name: str, command: str) -> str:
    return f"cmd/linli/{community_id}/{thing_name}/{command}"


def on_soil(deps: Deps, message: DeviceMessage, device: Device) -> None:
    """The ``soil`` effect: decide, record, then publish the water command if the zone needs one."""
    reading = message.reading
    assert isinstance(reading, Soil)
    source = f"{message.thing_name}/{message.event_id}"
    name = zone_of(device)
    settings = community_settings(deps, device.community_id)  # cached: no read per reading
    for _ in range(MAX_RACES):
        zone = deps.irrigation.zone(device.community_id, name) or Zone(community_id=device.community_id, zone=name)
        if zone.last_command is not None and zone.last_command.source == source:
            _send(deps, device.community_id, zone.last_command)  # a retry after a failed publish
            return
        verdict, after = rules.decide(zone, rules.Rules.for_zone(zone, settings), reading.moisture_pct, message.ts_ms)
        if verdict is Verdict.STALE:
            return
        command = None
        if verdict is Verdict.WATER:
            command = WaterCommand(command_id=deps.ids.new_id("wc"), zone=name, thing_name=device.thing_name,
                                   duration_s=settings.irrigation_water_s, ts_ms=deps.clock.now_ms(),
                                   moisture_pct=reading.moisture_pct, source=source)
            after = replace(after, last_command=command)
        after = replace(after, version=zone.version + 1)
        if deps.irrigation.save(after, zone.version, command) is SaveOutcome.SAVED:
            if command is not None:
                _send(deps, device.community_id, command)
            return
    raise Conflict("the zone is changing too fast; try again", code="zone_busy")


def _send(deps: Deps, community_id: str, command: WaterCommand) -> None:
    payload = {"command_id": command.command_id, "duration_s": command.duration_s, "ts": command.ts_ms}
    deps.commands.publish(command_topic(community_id, command.thing_name, WATER),
                          json.dumps(payload, separators=(",", ":")).encode())


def configure_zone(deps: Deps, community_id: str, zone_name: str,
                   body: Mapping[str, Any]) -> tuple[Zone, rules.Rules]:
    """Staff: the zone's own threshold (``null``: the community's again) and skip days; keys not sent stay.
    Answers the saved zone and the rules it is watered by."""
    communities.require_community(deps, community_id)
    rules.check_zone_name(zone_name)
    if not body or set(body) - {"moisture_pct", "skip_days"}:
        raise BadInput("send moisture_pct and/or skip_days", code="invalid_zone")
    zone = deps.irrigation.zone(community_id, zone_name) or Zone(community_id=community_id, zone=zone_name)
    if "moisture_pct" in body:
        raw = body["moisture_pct"]
        zone = replace(zone, moisture_pct=None if raw is None else rules.check_threshold(raw))
    if "skip_days" in body:
        zone = replace(zone, skip_days=rules.parse_skip_days(body["skip_days"]))
    saved = deps.irrigation.configure(zone)
    return saved, rules.Rules.for_zone(saved, deps.communities.terms(community_id).settings)


def list_zones(deps: Deps, community_id: str) -> list[tuple[Zone, rules.Rules]]:
    communities.require_community(deps, community_id)
    settings = deps.communities.terms(community_id).settings
    return [(z, rules.Rules.for_zone(z, settings)) for z in deps.irrigation.zones(community_id)]


def list_commands(deps: Deps, community_id: str, limit: int, cursor: str | None) -> Page[WaterCommand]:
    communities.require_community(deps, community_id)
    return deps.irrigation.commands(community_id, limit, cursor)
