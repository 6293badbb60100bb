"""What a use case may touch: the ports, built once per container by bootstrap (or as fakes by tests)."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.device_messages import ClockWindow
from chalicelib.ports import (
    Clock,
    Communities,
    DeviceEventStore,
    Devices,
    IdGenerator,
    Rejects,
    Residents,
    SecretStore,
    ThingRegistry,
    WeChatMiniProgram,
)


@dataclass
class Deps:
    clock: Clock
    ids: IdGenerator
    communities: Communities
    devices: Devices
    device_events: DeviceEventStore
    rejects: Rejects
    residents: Residents
    secrets: SecretStore
    wechat: WeChatMiniProgram
    things: ThingRegistry
    clock_window: ClockWindow
    token_ttl_s: int
