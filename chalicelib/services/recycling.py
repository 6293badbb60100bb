"""A bin weighs what a resident brings and the community pays for it: exactly once, to the right wallet.

The credit is computed from one read (device, dedupe marker, phone owner, today's credited total and —
when this container's cache is cold — the community's prices) and written in one transaction with the
dedupe marker, the ledger transfer, the weigh-in record, the daily-cap counter and the notification.
The transaction is conditional on what the read saw (the phone's owner, the cap), so two containers
racing on the same phone can never together exceed the cap or credit a phone that was bound meanwhile.
"""

from __future__ import annotations

from chalicelib.domain import ledger
from chalicelib.domain.device_messages import (
    DeviceMessage,
    RawDeviceMessage,
    Weighin,
    check_reading,
    check_sender,
    check_timestamp,
)
from chalicelib.domain.errors import BadInput, CommunityUnknown
from chalicelib.domain.identity import mask_phone, phone_key
from chalicelib.domain.recycling import (
    CommunitySettings,
    CommunityTerms,
    WeighinRecord,
    china_day,
    parse_prices,
    value_weighin,
)
from chalicelib.domain.rejects import Rejected
from chalicelib.ports import DailyCap, OutboxEvent, Page, WeighinOutcome
from chalicelib.services.dead_letters import IngestResult, Outcome, reject
from chalicelib.services.deps import Deps

#: a credit that keeps racing (phone bound meanwhile, cap used up meanwhile) is re-read this often
MAX_ATTEMPTS = 4
CREDITED_EVENT = "recycling.credited"


class CreditContended(Exception):
    """The credit lost its race ``MAX_ATTEMPTS`` times; the queue will deliver it again."""


def credit_weighin(deps: Deps, message: DeviceMessage, raw: RawDeviceMessage) -> IngestResult:
    reading = message.reading
    assert isinstance(reading, Weighin)
    pepper = deps.secrets.app_secrets().phone_pepper
    key = phone_key(pepper, reading.phone)
    cap = DailyCap(message.community_id, key, china_day(message.received_at_ms), 0)
    for _ in range(MAX_ATTEMPTS):
        now = deps.clock.now_ms()
        cached = deps.terms_cache.get(message.community_id, now)
        context = deps.recycling.load_weighin(message.thing_name, message.event_id, cap, with_terms=cached is None)
        if context.seen:
            return IngestResult(Outcome.DUPLICATE)
        terms = cached or context.terms or CommunityTerms()
        if cached is None:
            deps.terms_cache.put(message.community_id, terms, now)
        try:
            device = check_sender(message, context.device)
            check_timestamp(message.ts_ms, message.received_at_ms, deps.clock_window)
            check_reading(reading)
            valuation = value_weighin(reading, terms, context.credited_today_fen)
        except Rejected as rejected:
            return reject(deps, raw, rejected, event_id=message.event_id)
        business_key = f"{message.thing_name}:{message.event_id}"
        owner = context.owner_resident_id
        payee = ledger.wallet(owner) if owner else ledger.pending(key)
        transfer = None
        if valuation.credit_fen > 0:  # a few grams at a low price are worth 0 fen: recorded, no transfer
            transfer = ledger.Transfer.for_event(
                ledger.TransferKind.RECYCLING_CREDIT, business_key,
                ledger.recycling_expense(message.community_id, business_key), payee, valuation.credit_fen,
                message.received_at_ms,
                memo={"community_id": message.community_id, "thing_name": message.thing_name,
                      "category": reading.category, "weight_g": str(reading.weight_g)})
        record = WeighinRecord(
            community_id=message.community_id, thing_name=message.thing_name, event_id=message.event_id,
            category=reading.category, weight_g=reading.weight_g, price_fen_per_kg=valuation.price_fen_per_kg,
            credit_fen=valuation.credit_fen, ts_ms=message.ts_ms, received_at_ms=message.received_at_ms,
            phone_key=key, phone_masked=mask_phone(reading.phone), resident_id=owner,
            transfer_id=transfer.transfer_id if transfer else "")
        event = None
        if owner:
            event = OutboxEvent(type=CREDITED_EVENT, community_id=message.community_id, key=business_key, data={
                "resident_id": owner, "credit_fen": valuation.credit_fen, "category": reading.category,
                "weight_g": reading.weight_g, "thing_name": message.thing_name, "at_ms": message.received_at_ms})
        advance = device.last_seen_ms is None or message.received_at_ms > device.last_seen_ms
        outcome = deps.recycling.record_weighin(
            message, advance, record, transfer,
            DailyCap(cap.community_id, key, cap.day, terms.settings.daily_cap_fen), event)
        if outcome is WeighinOutcome.RECORDED:
            return IngestResult(Outcome.ACCEPTED, detail=f"credit_fen={valuation.credit_fen}"
                                + ("" if owner else " held_for_phone"))
        if outcome is WeighinOutcome.DUPLICATE:
            return IngestResult(Outcome.DUPLICATE)
        # OWNER_CHANGED or CAP_REACHED: read again; the next valuation sees the new owner / total.
    raise CreditContended(f"weigh-in {message.thing_name}/{message.event_id} kept racing; will be redelivered")


def set_prices(deps: Deps, community_id: str, raw: object) -> dict[str, int]:
    _require(deps, community_id)
    prices = parse_prices(raw)
    deps.communities.set_prices(community_id, prices)
    deps.terms_cache.forget(community_id)
    return prices


def get_terms(deps: Deps, community_id: str) -> CommunityTerms:
    _require(deps, community_id)
    return deps.communities.terms(community_id)


def weighins_of_day(deps: Deps, community_id: str, day: str, limit: int, cursor: str | None) -> Page[WeighinRecord]:
    if not (len(day) == 8 and day.isdigit()):
        raise BadInput("day must be YYYYMMDD", code="invalid_day")
    return deps.recycling.weighins_of_day(community_id, day, limit, cursor)


def change_settings(deps: Deps, community_id: str, changes: object) -> CommunitySettings:
    _require(deps, community_id)
    settings = deps.communities.terms(community_id).settings.changed(changes)  # type: ignore[arg-type]
    deps.communities.set_settings(community_id, settings)
    deps.terms_cache.forget(community_id)
    return settings


def _require(deps: Deps, community_id: str) -> None:
    if deps.communities.get(community_id) is None:
        raise CommunityUnknown(f"no community {community_id!r}")
