"""The notification fan-out against moto: outbox stream → SNS topic (filter policies) → channel queues →
workers → WeChat (faked) / SMS (moto SNS) / staff inbox / partner webhooks / TV feed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from app import app
from chalicelib.domain.errors import BadInput
from chalicelib.ports import Notification
from chalicelib.services import communities
from chalicelib.services.deps import Deps
from localcloud.resources import LocalResources
from tests.conftest import REGION
from tests.integration.test_api import Api
from tests.support import events, notify_queues
from tests.support.fakes import FakeClock, FakeWeChat

ROOT = Path(__file__).resolve().parents[2]
PHONE = "13800138000"
RESIDENTS, STAFF, PARTNERS, TV = (f"linli-notify-{c}" for c in ("residents", "staff", "partners", "tv"))


def china(hour: int) -> int:
    """2026-03-10 at ``hour``:00 China time, epoch ms."""
    return int(datetime(2026, 3, 10, hour, tzinfo=UTC).timestamp() * 1000) - 8 * 3600 * 1000


@pytest.fixture
def api(hub: Deps) -> Iterator[Api]:
    with Client(app, project_dir=str(ROOT)) as client:
        yield Api(client)


@pytest.fixture
def cid(hub: Deps) -> str:
    return communities.create_community(hub, "Sunny Gardens").community_id


def login(api: Api, openid: str, phone: str | None = PHONE) -> tuple[str, str]:
    status, body, _ = api("POST", "/v1/auth/wechat", {"code": f"sandbox-{openid}"})
    assert status == 200, body
    token = str(body["token"])
    if phone is not None:
        status, answer, _ = api("POST", "/v1/me/phone", {"code": f"sandbox-phone-{phone}"}, token=token)
        assert status == 200, answer
    return token, str(body["resident_id"])


def grant(api: Api, token: str, **grants: str) -> dict[str, Any]:
    status, body, _ = api("POST", "/v1/me/subscriptions", {"grants": grants}, token=token)
    assert status == 200, body
    return dict(body)


def stream(event_type: str, cid: str, key: str, data: dict[str, Any]) -> None:
    assert app.handler_map["fan_out_outbox"](events.outbox_insert(event_type, cid, key, data), None) == {
        "batchItemFailures": []}


def credited(resident_id: str) -> dict[str, Any]:
    return {"resident_id": resident_id, "credit_fen": 188, "category": "paper", "weight_g": 2350,
            "thing_name": "bin-1", "at_ms": china(12)}


def texts() -> list[tuple[str, str]]:
    return list(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values())


def wechat(hub: Deps) -> list[tuple[str, str, dict[str, Any]]]:
    assert isinstance(hub.wechat, FakeWeChat)
    return hub.wechat.messages


# ------------------------------------------------------------------------------------- topic and queues
def test_the_topic_delivers_each_audience_to_its_own_queue_only(hub: Deps, moto: LocalResources) -> None:
    hub.notify.topic.publish(Notification("order.escalated", "c1", "EVT#k", "staff", {"order_id": "o1"}, 1))
    assert [b["key"] for b in notify_queues.bodies(STAFF)] == ["EVT#k"]
    assert notify_queues.bodies(RESIDENTS) == notify_queues.bodies(PARTNERS) == notify_queues.bodies(TV) == []
    (subscription,) = [s for s in moto.subscriptions.values() if s.endpoint.endswith(":linli-notify-staff")]
    assert json.loads(subscription.attributes["FilterPolicy"]) == {"audience": ["staff"]}
    assert subscription.attributes["RawMessageDelivery"] == "true"


def test_a_notice_goes_to_the_tv_and_the_residents_and_refreshes_the_feed_once(hub: Deps, cid: str) -> None:
    stream("notice.published", cid, "nt1", {"notice_id": "nt1", "title": "停水通知", "buildings": []})
    assert [b["type"] for b in notify_queues.bodies(TV)] == ["notice.published"]
    assert [b["audience"] for b in notify_queues.bodies(RESIDENTS)] == ["resident"]
    assert notify_queues.bodies(STAFF) == []
    stream("notice.published", cid, "nt1", {"notice_id": "nt1", "title": "停水通知", "buildings": []})  # redelivered
    assert notify_queues.drain(TV) == []
    feed = hub.notify.book.tv_feed(cid)
    assert feed is not None and feed[0] == 1  # version 1: refreshed once


# ----------------------------------------------------------------------------------------- residents
def test_a_credit_notice_uses_one_allowance_and_is_sent_once(api: Api, hub: Deps, cid: str) -> None:
    token, rid = login(api, "o-alice")
    assert grant(api, token, **{"recycling-credited": "accept", "order-status": "reject"})["allowances"][
        "recycling-credited"] == 1
    stream("recycling.credited", cid, "bin-1:w-1", credited(rid))
    stream("recycling.credited", cid, "bin-1:w-1", credited(rid))  # the stream delivered the record twice
    assert notify_queues.drain(RESIDENTS) == []
    assert [(openid, tpl, data["amount2"]) for openid, tpl, data in wechat(hub)] == [
        ("o-alice", "recycling-credited", {"value": "1.88元"})]
    assert texts() == []
    status, body, _ = api("GET", "/v1/me/subscriptions", token=token)
    assert status == 200 and body["allowances"]["recycling-credited"] == 0


def test_with_no_allowance_left_the_news_goes_by_sms(api: Api, hub: Deps, cid: str) -> None:
    _, rid = login(api, "o-bob")
    stream("recycling.credited", cid, "bin-1:w-2", credited(rid))
    assert notify_queues.drain(RESIDENTS) == []
    assert wechat(hub) == []
    [(number, text)] = texts()
    assert number == f"+86{PHONE}" and "回收到账" in text and "1.88元" in text


def test_when_wechat_says_no_consent_the_news_goes_by_sms(api: Api, hub: Deps, cid: str) -> None:
    class Refusing(FakeWeChat):
        def send_subscribe_message(self, openid: str, template_id: str, data: Any, page: str | None = None) -> int:
            raise BadInput("43101 user refuse to accept the msg", code="subscribe_refused")

    token, rid = login(api, "o-carol")
    grant(api, token, **{"recycling-credited": "accept"})
    hub.wechat = Refusing()
    stream("recycling.credited", cid, "bin-1:w-3", credited(rid))
    assert notify_queues.drain(RESIDENTS) == []
    assert [number for number, _ in texts()] == [f"+86{PHONE}"]
    assert api("GET", "/v1/me/subscriptions", token=token)[1]["allowances"]["recycling-credited"] == 0


def test_a_resident_without_allowance_or_phone_is_undeliverable_not_retried(api: Api, hub: Deps, cid: str) -> None:
    _, rid = login(api, "o-dan", phone=None)
    stream("recycling.credited", cid, "bin-1:w-4", credited(rid))
    assert notify_queues.drain(RESIDENTS) == []
    assert wechat(hub) == [] and texts() == []
    assert notify_queues.bodies(RESIDENTS) == []


class RecordingHold:
    def __init__(self) -> None:
        self.held: list[int] = []
        self.receipts: list[str] = []

    def hold(self, queue_arn: str, receipt_handle: str, seconds: int) -> None:
        assert queue_arn.endswith(":linli-notify-residents")
        self.held.append(seconds)
        self.receipts.append(receipt_handle)
        boto3.client("sqs").change_message_visibility(QueueUrl=notify_queues.queue(RESIDENTS)[0],
                                                      ReceiptHandle=receipt_handle, VisibilityTimeout=seconds)


def test_quiet_hours_hold_a_credit_notice_but_never_an_alarm(api: Api, hub: Deps, cid: str) -> None:
    token, rid = login(api, "o-erin")
    grant(api, token, **{"recycling-credited": "accept", "security-alarm": "accept"})
    status, body, _ = api("PUT", "/v1/me/notification-settings", {"quiet_hours": {"start": "22:00", "end": "07:00"}},
                          token=token)
    assert status == 200 and body["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    hold = RecordingHold()
    hub.notify.hold = hold
    hub.clock = FakeClock(china(23))
    stream("recycling.credited", cid, "bin-1:w-5", credited(rid))
    stream("alarm.raised", cid, "al1#1", {"alarm_id": "al1", "kind": "leak", "severity": "warning",
                                          "title": "厨房漏水", "subject": "1-101", "resident_id": rid, "asked": None})
    assert len(notify_queues.drain(RESIDENTS)) == 1  # the credit notice, held
    assert hold.held == [8 * 3600]  # until 07:00
    assert [(tpl, data["thing4"]["value"]) for _, tpl, data in wechat(hub)] == [("security-alarm", "漏水提醒")]

    hub.clock = FakeClock(china(7))
    sqs = boto3.client("sqs")
    url = notify_queues.queue(RESIDENTS)[0]
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None  # invisible until the hold ends
    # SQS hands it back at 07:00 by itself; stand in for the 8 hours passing
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=hold.receipts[0], VisibilityTimeout=0)
    assert notify_queues.drain(RESIDENTS) == []
    assert [tpl for _, tpl, _ in wechat(hub)] == ["security-alarm", "recycling-credited"]


def test_localclouds_pump_leaves_a_held_message_held(api: Api, hub: Deps, cid: str) -> None:
    """The pump shortens failed messages' visibility for quick local retries — but not a quiet-hours
    hold, which the worker names in ``visibilityKept`` (Lambda ignores the key; AWS never shortens)."""
    from localcloud.lambda_runtime import FunctionInvoker
    from localcloud.sqs_pump import SqsPump

    token, rid = login(api, "o-frank")
    grant(api, token, **{"recycling-credited": "accept"})
    api("PUT", "/v1/me/notification-settings", {"quiet_hours": {"start": "22:00", "end": "07:00"}}, token=token)
    hub.clock = FakeClock(china(23))
    stream("recycling.credited", cid, "bin-1:w-6", credited(rid))
    url, arn = notify_queues.queue(RESIDENTS)
    sqs = boto3.client("sqs")
    pump = SqsPump(sqs, url, arn, REGION, FunctionInvoker("notify_residents", app.handler_map["notify_residents"]),
                   10, retry_after_s=0)
    assert pump.poll_once() == 1 and pump.failed_records == 1
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None  # still held, not back after 0 s
    assert wechat(hub) == []


# --------------------------------------------------------------------------------------------- staff
def add_staff(api: Api, cid: str, name: str, role: str, phone: str | None = None) -> tuple[str, str]:
    body = {"name": name, "role": role, **({"phone": phone} if phone else {})}
    status, answer, _ = api.admin("POST", f"/v1/admin/communities/{cid}/staff", body)
    assert status == 201, answer
    return str(answer["staff_id"]), str(answer["token"])


def test_staff_hear_of_what_names_them_and_managers_of_the_rest(api: Api, hub: Deps, cid: str) -> None:
    _, manager_token = add_staff(api, cid, "王经理", "manager", phone="13900139000")
    cleaner, cleaner_token = add_staff(api, cid, "李阿姨", "cleaner")
    stream("task.opened", cid, "t1", {"task_id": "t1", "thing_name": "trash-1", "location": "3号楼",
                                      "fill_pct": 95, "cleaners": [cleaner]})
    stream("order.escalated", cid, "o1#esc", {"order_id": "o1", "service_name": "保洁"})
    stream("order.escalated", cid, "o1#esc", {"order_id": "o1", "service_name": "保洁"})  # redelivered
    assert notify_queues.drain(STAFF) == []

    status, body, _ = api("GET", "/v1/staff/inbox", token=cleaner_token)
    assert status == 200 and [i["text"] for i in body["items"]] == ["清运任务：3号楼 已满 95%"]
    status, body, _ = api("GET", "/v1/staff/inbox", token=manager_token)
    assert status == 200 and [i["type"] for i in body["items"]] == ["order.escalated"]
    assert [(number, text) for number, text in texts()] == [("+8613900139000", "【邻里】订单超时未处理：o1 保洁")]


def test_the_inbox_is_for_staff_tokens_only(api: Api, hub: Deps, cid: str) -> None:
    resident_token, _ = login(api, "o-frank", phone=None)
    assert api("GET", "/v1/staff/inbox", token=resident_token)[0] == 403
    assert api.admin("GET", "/v1/staff/inbox")[0] == 403
    assert api("GET", "/v1/staff/inbox")[0] == 401
    status, body, _ = api.admin("POST", f"/v1/admin/communities/{cid}/staff",
                                {"name": "x", "role": "guard", "phone": "12345"})
    assert status == 400, body


# ------------------------------------------------------------------------------------------ residents' API
def test_subscriptions_and_settings_are_the_residents_own(api: Api, hub: Deps, cid: str) -> None:
    token, _ = login(api, "o-gina", phone=None)
    _, staff_token = add_staff(api, cid, "赵保安", "guard")
    body = grant(api, token, **{"community-notice": "accept", "security-alarm": "accept"})
    assert body["allowances"] == {"recycling-credited": 0, "order-status": 0, "security-alarm": 1,
                                  "community-notice": 1}
    assert grant(api, token, **{"security-alarm": "accept"})["allowances"]["security-alarm"] == 2
    bad_bodies: list[dict[str, Any]] = [{"grants": {"t": "yes"}}, {"grants": {}}, {"grants": "accept"}, {}]
    for bad in bad_bodies:
        assert api("POST", "/v1/me/subscriptions", bad, token=token)[0] == 400
    assert api("POST", "/v1/me/subscriptions", {"grants": {"t": "accept"}}, token=staff_token)[0] == 403
    assert api("GET", "/v1/me/subscriptions")[0] == 401

    assert api("GET", "/v1/me/notification-settings", token=token)[1]["quiet_hours"] is None
    assert api("PUT", "/v1/me/notification-settings", {"quiet_hours": {"start": "25:00", "end": "07:00"}},
               token=token)[0] == 400
    status, body, _ = api("PUT", "/v1/me/notification-settings", {"quiet_hours": None}, token=token)
    assert status == 200 and body["quiet_hours"] is None


def test_the_sealed_phone_is_not_stored_in_plain_text(api: Api, hub: Deps) -> None:
    login(api, "o-hank")
    table = boto3.client("dynamodb").scan(TableName="linli-hub")["Items"]
    assert PHONE not in json.dumps(table)
