"""Weigh-ins pay residents: through the real queue handler and API, against moto (WeChat faked)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.test import Client

from app import app
from chalicelib.domain.rejects import RejectReason
from chalicelib.handlers import device_events as device_events_handler
from chalicelib.ports import WeighinOutcome
from chalicelib.services import communities, identity
from chalicelib.services.deps import Deps
from chalicelib.services.device_events import Outcome
from tests.integration.test_api import Api
from tests.support import events, notify_queues

ROOT = Path(__file__).resolve().parents[2]
BIN = "bin-0001"
PHONE = "13800138000"
PRICES = {"paper": 80, "plastic": 120, "metal": 200, "bottle": 50, "textile": 30}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def weighin(cid: str, event_id: str, *, weight_g: int = 2350, category: str = "paper", phone: str = PHONE,
            received_at: int | None = None) -> dict[str, Any]:
    received_at = now_ms() if received_at is None else received_at
    payload = events.device_payload("weighin", event_id=event_id, ts=received_at - 1_000, weight_g=weight_g,
                                    category=category, phone=phone)
    return events.sqs_device_event(payload, events.topic(cid, BIN, "weighin"), BIN, received_at)


def deliver(event: dict[str, Any]) -> Any:
    return app.handler_map["handle_device_events"](event, None)


@pytest.fixture
def api(hub: Deps) -> Iterator[Api]:
    with Client(app, project_dir=str(ROOT)) as client:
        yield Api(client)


@pytest.fixture
def cid(hub: Deps, api: Api) -> str:
    cid = communities.create_community(hub, "Sunny Gardens").community_id
    communities.register_device(hub, cid, BIN, "recycling_bin")
    status, body, _ = api.admin("PUT", f"/v1/admin/communities/{cid}/recycling-prices", {"prices": PRICES})
    assert status == 200, body
    return cid


def resident_token(api: Api, openid: str, phone: str | None = PHONE) -> str:
    status, body, _ = api("POST", "/v1/auth/wechat", {"code": f"sandbox-{openid}"})
    assert status == 200, body
    token = str(body["token"])
    if phone is not None:
        status, body, _ = api("POST", "/v1/me/phone", {"code": f"sandbox-phone-{phone}"}, token=token)
        assert status == 200, body
    return token


def wallet(api: Api, token: str) -> dict[str, Any]:
    status, body, _ = api("GET", "/v1/wallet", token=token)
    assert status == 200, body
    return dict(body)


def rejects(api: Api, cid: str) -> list[dict[str, Any]]:
    status, body, _ = api.admin("GET", f"/v1/admin/communities/{cid}/rejects")
    assert status == 200
    return list(body["items"])


def ledger(api: Api, cid: str) -> dict[str, Any]:
    status, body, _ = api.admin("GET", f"/v1/admin/communities/{cid}/ledger")
    assert status == 200, body
    return dict(body)


def test_seed_scenario_2350_g_of_cardboard_pays_188_fen(api: Api, cid: str) -> None:
    token = resident_token(api, "o-alice")
    deliver(weighin(cid, "w-1"))

    assert wallet(api, token) == {"balance_fen": 188, "in_flight_fen": 0, "currency": "CNY"}
    status, body, _ = api("GET", "/v1/recycling/weighins", token=token)
    assert status == 200
    [row] = body["items"]
    assert (row["category"], row["weight_g"], row["credit_fen"], row["thing_name"]) == ("paper", 2350, 188, BIN)
    assert row["phone"] == "138****8000" and row["ts"].endswith("Z")
    status, body, _ = api("GET", "/v1/wallet/entries", token=token)
    [entry] = body["items"]
    assert (entry["amount_fen"], entry["kind"]) == (188, "recycling_credit")
    book = ledger(api, cid)
    assert book["invariants_ok"] is True
    assert book["totals"]["recycling_expense"] == -188
    assert book["totals"]["credited_to_wallets"] == 188


def grant_credit_notices(api: Api, token: str) -> None:
    """What the mini-program reports after ``wx.requestSubscribeMessage`` for "回收到账" was accepted."""
    status, body, _ = api("POST", "/v1/me/subscriptions", {"grants": {"recycling-credited": "accept"}}, token=token)
    assert status == 200, body


def test_a_credit_sends_the_recycling_subscribe_message_from_the_outbox(api: Api, cid: str, hub: Deps) -> None:
    grant_credit_notices(api, resident_token(api, "o-alice"))
    deliver(weighin(cid, "w-1"))
    key = f"{BIN}:w-1"
    data = {"resident_id": identity.current_resident(hub, _principal(hub, "o-alice")).resident_id,
            "credit_fen": 188, "category": "paper", "weight_g": 2350, "thing_name": BIN, "at_ms": now_ms()}
    app.handler_map["fan_out_outbox"](events.outbox_insert("recycling.credited", cid, key, data), None)
    notify_queues.drain("linli-notify-residents")  # the residents' channel (topic → queue → worker)
    sent = hub.wechat.messages  # type: ignore[attr-defined]
    assert [(openid, template) for openid, template, _ in sent] == [("o-alice", "recycling-credited")]
    assert sent[0][2]["amount2"] == {"value": "1.88元"}


def _principal(hub: Deps, openid: str) -> Any:
    from chalicelib.domain.identity import Principal, Role, resident_id_for

    pepper = hub.secrets.app_secrets().phone_pepper
    return Principal(Role.RESIDENT, resident_id_for(pepper, hub.wechat.appid, openid))


def test_credit_for_an_unbound_phone_is_held_and_arrives_when_it_is_bound(api: Api, cid: str) -> None:
    deliver(weighin(cid, "w-1"))
    deliver(weighin(cid, "w-2", weight_g=1000, category="metal"))
    token = resident_token(api, "o-bob", phone=None)
    assert wallet(api, token)["balance_fen"] == 0
    status, _, _ = api("POST", "/v1/me/phone", {"code": f"sandbox-phone-{PHONE}"}, token=token)
    assert status == 200
    assert wallet(api, token)["balance_fen"] == 188 + 200
    status, body, _ = api("GET", "/v1/recycling/weighins", token=token)
    assert [w["event_id"] for w in body["items"]] == ["w-2", "w-1"]
    book = ledger(api, cid)
    assert book["invariants_ok"] and book["totals"]["held_for_unbound_phones"] == 388
    # binding again claims nothing twice
    api("POST", "/v1/me/phone", {"code": f"sandbox-phone-{PHONE}"}, token=token)
    assert wallet(api, token)["balance_fen"] == 388


def test_duplicates_credit_once_even_when_delivered_concurrently(api: Api, cid: str, hub: Deps,
                                                                 atomic_moto: None,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Five containers each load "not seen" before any records: exactly one credit, four duplicates."""
    token = resident_token(api, "o-alice")
    record = weighin(cid, "w-dup")["Records"][0]
    burst = 5
    everyone_loaded = threading.Barrier(burst, timeout=10)
    real_record = hub.recycling.record_weighin

    def record_after_everyone_loaded(*args: Any) -> WeighinOutcome:
        everyone_loaded.wait()
        return real_record(*args)

    monkeypatch.setattr(hub.recycling, "record_weighin", record_after_everyone_loaded)
    outcomes: list[Outcome] = []

    def container() -> None:
        outcomes.append(device_events_handler.handle_record(SQSRecord(record)).outcome)

    threads = [threading.Thread(target=container) for _ in range(burst)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == sorted([Outcome.ACCEPTED] + [Outcome.DUPLICATE] * (burst - 1))
    monkeypatch.undo()
    deliver(events.sqs_event(record))
    assert wallet(api, token)["balance_fen"] == 188
    assert ledger(api, cid)["totals"]["credits"] == 1


def test_the_daily_cap_is_a_reject_with_a_reason_not_a_trim(api: Api, cid: str) -> None:
    token = resident_token(api, "o-alice")
    status, _, _ = api.admin("PUT", f"/v1/admin/communities/{cid}/settings", {"daily_cap_fen": 400})
    assert status == 200
    deliver(weighin(cid, "w-1", weight_g=2500))  # 200 fen
    deliver(weighin(cid, "w-2", weight_g=2500))  # 400 fen: exactly the cap
    deliver(weighin(cid, "w-3", weight_g=13))  # 1 fen over
    assert wallet(api, token)["balance_fen"] == 400
    [reject] = rejects(api, cid)
    assert reject["reason"] == RejectReason.OVER_DAILY_CAP.value
    assert "138****8000" in str(reject["payload"]) and PHONE not in str(reject["payload"])


@pytest.mark.parametrize(("changes", "reason"), [
    ({"weight_g": 30_001}, "implausible_value"),
    ({"weight_g": 0}, "implausible_value"),
    ({"category": "glass"}, "invalid_fields"),
])
def test_implausible_weighins_are_rejected_and_never_credited(api: Api, cid: str, changes: dict[str, Any],
                                                             reason: str) -> None:
    token = resident_token(api, "o-alice")
    deliver(weighin(cid, "w-bad", **changes))
    assert wallet(api, token)["balance_fen"] == 0
    assert [r["reason"] for r in rejects(api, cid)] in ([reason], ["implausible_value"])


def test_a_community_without_a_price_for_the_category_rejects(api: Api, cid: str) -> None:
    status, _, _ = api.admin("PUT", f"/v1/admin/communities/{cid}/recycling-prices", {"prices": {"paper": 80}})
    assert status == 200
    token = resident_token(api, "o-alice")
    deliver(weighin(cid, "w-1", category="metal"))
    assert wallet(api, token)["balance_fen"] == 0
    assert [r["reason"] for r in rejects(api, cid)] == ["no_price"]


def test_the_per_drop_limit_is_a_community_setting(api: Api, cid: str) -> None:
    token = resident_token(api, "o-alice")
    status, body, _ = api.admin("PUT", f"/v1/admin/communities/{cid}/settings", {"max_drop_g": 5_000})
    assert status == 200 and body["max_drop_g"] == 5_000 and body["daily_cap_fen"] == 5_000
    deliver(weighin(cid, "w-1", weight_g=5_001))
    deliver(weighin(cid, "w-2", weight_g=5_000))
    assert wallet(api, token)["balance_fen"] == 400


@pytest.mark.parametrize("body", [
    {"prices": {"paper": "80"}}, {"prices": {"paper": 80.5}}, {"prices": {"glass": 10}}, {"prices": {"paper": -1}},
    {"prices": {}}, {"prices": []}, {},
])
def test_bad_prices_are_a_400(api: Api, cid: str, body: dict[str, Any]) -> None:
    status, answer, _ = api.admin("PUT", f"/v1/admin/communities/{cid}/recycling-prices", body)
    assert status == 400, answer
    assert answer["error"]["code"] in ("invalid_prices", "invalid_body")


@pytest.mark.parametrize("body", [{"max_drop_g": "5"}, {"max_drop_g": 0}, {"colour": 1}, {}])
def test_bad_settings_are_a_400(api: Api, cid: str, body: dict[str, Any]) -> None:
    status, answer, _ = api.admin("PUT", f"/v1/admin/communities/{cid}/settings", body)
    assert status == 400, answer


def test_a_failed_credit_notice_is_retried_by_the_channel_queue_and_never_credits_again(api: Api, cid: str,
                                                                                        hub: Deps) -> None:
    token = resident_token(api, "o-alice")
    grant_credit_notices(api, token)
    deliver(weighin(cid, "w-1"))
    data = {"resident_id": _principal(hub, "o-alice").subject, "credit_fen": 188, "category": "paper",
            "weight_g": 2350, "thing_name": BIN, "at_ms": now_ms()}
    insert = events.outbox_insert("recycling.credited", cid, f"{BIN}:w-1", data)
    assert app.handler_map["fan_out_outbox"](insert, None) == {"batchItemFailures": []}
    hub.wechat.down = True  # type: ignore[attr-defined]
    assert len(notify_queues.drain("linli-notify-residents", retry_failed=True)) == 1  # the queue retries it
    hub.wechat.down = False  # type: ignore[attr-defined]
    assert notify_queues.drain("linli-notify-residents") == []
    assert len(hub.wechat.messages) == 1  # type: ignore[attr-defined]
    assert wallet(api, token)["balance_fen"] == 188
