"""Recycling pays residents: prices, community limits, and what one weigh-in is worth (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from chalicelib.domain.device_messages import RECYCLING_CATEGORIES, Weighin
from chalicelib.domain.errors import BadInput
from chalicelib.domain.rejects import Rejected, RejectReason

#: a price above 1,000 CNY per kg is a typo, not a price
MAX_PRICE_FEN_PER_KG = 100_000
CHINA_UTC_OFFSET_MS = 8 * 3600 * 1000  # China keeps one time zone and no daylight saving


@dataclass(frozen=True)
class CommunitySettings:
    """Per-community thresholds and timers (DESIGN §5); a PUT changes only the keys it names."""

    max_drop_g: int = 30_000
    daily_cap_fen: int = 5_000
    fill_alert_pct: int = 90
    irrigation_moisture_pct: int = 27
    security_exit_delay_s: int = 60
    security_entry_delay_s: int = 60
    guard_ack_timeout_s: int = 120
    heartbeat_interval_s: int = 300
    #: the community's share of a paid service order, in percent (the partner gets the rest)
    commission_pct: int = 10
    #: 1: residents may pay service orders by card (Stripe) as well as WeChat Pay
    card_payments: int = 0
    #: meters: the most a household can plausibly use per hour (a 32 mm pipe at full flow is ~5 m3/h; a
    #: 60 A supply at 230 V is ~14 kWh/h); a larger jump is a fault or a swapped meter, never usage
    meter_max_m3_per_h: int = 5
    meter_max_kwh_per_h: int = 15
    #: irrigation: no watering from quiet_start_h up to quiet_end_h China time (the hottest hours: water
    #: evaporates and wet leaves scorch); one run lasts water_s; after a run the zone waits until moisture
    #: rose above the threshold + hysteresis_pct, or min_interval_s passed, before it may run again
    irrigation_quiet_start_h: int = 11
    irrigation_quiet_end_h: int = 16
    irrigation_water_s: int = 600
    irrigation_hysteresis_pct: int = 5
    irrigation_min_interval_s: int = 6 * 3600
    #: refusals at one door within ``door_denied_window_s`` that raise a door_denied alarm
    door_denied_limit: int = 5
    door_denied_window_s: int = 120

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in SETTING_LIMITS}

    def changed(self, changes: Mapping[str, Any]) -> CommunitySettings:
        """These settings with ``changes`` applied, each checked against its allowed range."""
        if not isinstance(changes, Mapping) or not changes:
            raise BadInput("send an object with at least one setting", code="invalid_settings")
        merged = self.as_dict()
        for name, value in changes.items():
            if name not in SETTING_LIMITS:
                raise BadInput(f"unknown setting {name!r}; known: {sorted(SETTING_LIMITS)}", code="invalid_settings")
            low, high = SETTING_LIMITS[name]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise BadInput(f"{name} must be an integer within {low}..{high}", code="invalid_settings")
            merged[name] = value
        return CommunitySettings(**merged)

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any] | None) -> CommunitySettings:
        known = {k: int(v) for k, v in (stored or {}).items() if k in SETTING_LIMITS}
        return cls(**known)


SETTING_LIMITS: dict[str, tuple[int, int]] = {
    "max_drop_g": (1, 200_000),
    "daily_cap_fen": (0, 1_000_000),
    "fill_alert_pct": (1, 100),
    "irrigation_moisture_pct": (0, 100),
    "security_exit_delay_s": (0, 600),
    "security_entry_delay_s": (0, 600),
    "guard_ack_timeout_s": (10, 3600),
    "heartbeat_interval_s": (10, 86_400),
    "commission_pct": (0, 50),
    "card_payments": (0, 1),
    "meter_max_m3_per_h": (1, 100),
    "meter_max_kwh_per_h": (1, 500),
    "irrigation_quiet_start_h": (0, 24),
    "irrigation_quiet_end_h": (0, 24),
    "irrigation_water_s": (10, 7200),
    "irrigation_hysteresis_pct": (0, 50),
    "irrigation_min_interval_s": (600, 7 * 86_400),
    "door_denied_limit": (2, 100),
    "door_denied_window_s": (10, 3600),
}


@dataclass(frozen=True)
class CommunityTerms:
    """What a community pays (fen per kg, by category) and the limits it sets."""

    prices: Mapping[str, int] = field(default_factory=dict)
    settings: CommunitySettings = field(default_factory=CommunitySettings)


def parse_prices(raw: Any) -> dict[str, int]:
    """``{"paper": 80, ...}`` → checked prices; unknown categories and non-integer fen are bad input."""
    if not isinstance(raw, Mapping) or not raw:
        raise BadInput("prices must be an object of category → fen per kg", code="invalid_prices")
    prices = {}
    for category, price in raw.items():
        if category not in RECYCLING_CATEGORIES:
            raise BadInput(f"unknown category {category!r}; known: {list(RECYCLING_CATEGORIES)}",
                           code="invalid_prices")
        if not isinstance(price, int) or isinstance(price, bool) or not 0 <= price <= MAX_PRICE_FEN_PER_KG:
            raise BadInput(f"price for {category} must be whole fen per kg within 0..{MAX_PRICE_FEN_PER_KG}",
                           code="invalid_prices")
        prices[category] = price
    return prices


def credit_fen(weight_g: int, price_fen_per_kg: int) -> int:
    """Floor, in integers: 2,350 g of paper at 80 fen/kg is 188 fen."""
    return weight_g * price_fen_per_kg // 1000


def china_day(at_ms: int) -> str:
    """The calendar day in China (UTC+8) as YYYYMMDD — daily caps reset at local midnight."""
    days, _ = divmod(at_ms + CHINA_UTC_OFFSET_MS, 86_400_000)
    return (date(1970, 1, 1) + timedelta(days=days)).strftime("%Y%m%d")


@dataclass(frozen=True)
class Valuation:
    price_fen_per_kg: int
    credit_fen: int


def value_weighin(reading: Weighin, terms: CommunityTerms, credited_today_fen: int) -> Valuation:
    """What this drop is worth, or a reject: over the bin's limit, no price, or over the daily cap.

    Over the cap is a reject with a reason, never a silent trim: the resident (and staff) see why.
    """
    limit = terms.settings.max_drop_g
    if reading.weight_g > limit:
        raise Rejected(RejectReason.IMPLAUSIBLE_VALUE,
                       f"weight_g {reading.weight_g} is above the per-drop limit {limit}")
    price = terms.prices.get(reading.category)
    if price is None:
        raise Rejected(RejectReason.NO_PRICE, f"the community has no price for {reading.category}")
    credit = credit_fen(reading.weight_g, price)
    check_daily_cap(credit, credited_today_fen, terms.settings.daily_cap_fen)
    return Valuation(price_fen_per_kg=price, credit_fen=credit)


def check_daily_cap(credit: int, credited_today_fen: int, cap_fen: int) -> None:
    if credited_today_fen + credit > cap_fen:
        raise Rejected(RejectReason.OVER_DAILY_CAP,
                       f"{credit} fen would take this phone to {credited_today_fen + credit} fen today; "
                       f"the community's cap is {cap_fen} fen")


@dataclass(frozen=True)
class WeighinRecord:
    """A credited weigh-in, as the resident and staff see it."""

    community_id: str
    thing_name: str
    event_id: str
    category: str
    weight_g: int
    price_fen_per_kg: int
    credit_fen: int
    ts_ms: int
    received_at_ms: int
    phone_key: str
    phone_masked: str
    resident_id: str | None  # None: held for the phone until someone binds it
    transfer_id: str
