"""Away mode through the real API, device handler and timer handler over moto, on a controllable clock.

Timers the hub schedules are caught by a recording queue and fired through the real ``fire_timers``
handler when the test's clock reaches them — no sleeps; one test sends a timer through the real SQS
queue (moto) to show the two ends fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from app import app
from chalicelib.adapters.dynamo.models import OutboxItem
from chalicelib.adapters.timer_queue import TIMER_QUEUE, SqsTimerQueue, timer_body
from chalicelib.ports import Timer
from chalicelib.services.deps import Deps
from tests.conftest import REGION
from tests.integration.test_api import Api, login
from tests.integration.test_api import api as api  # the fixture
from tests.support import events
from tests.support.fakes import FakeClock

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
PANEL = "panel-0001"
EXIT_MS, ENTRY_MS, ACK_MS = 60_000, 60_000, 120_000  # the community defaults (DESIGN §5)


@dataclass
class RecordingTimers:
    """The timer queue, as a list: the test fires what is due through the real handler."""

    scheduled: list[Timer] = field(default_factory=list)

    def schedule(self, timer: Timer, now_ms: int) -> None:
        self.scheduled.append(timer)

    def fire_due(self, now_ms: int) -> int:
        due = [t for t in self.scheduled if t.due_ms <= now_ms]
        self.scheduled = [t for t in self.scheduled if t.due_ms > now_ms]
        if due:
            result = app.handler_map["fire_timers"](
                events.sqs_event(*(events.sqs_record(timer_body(t)) for t in due)), None)
            assert result == {"batchItemFailures": []}
        return len(due)


@dataclass
class Home:
    api: Api
    hub: Deps
    clock: FakeClock
    timers: RecordingTimers
    cid: str
    token: str
    resident_id: str
    staff: dict[str, tuple[str, str]]  # name → (staff id, token)
    sent: int = 0

    def security(self, mode: str | None = None, token: str | None = None) -> tuple[int, Any]:
        if mode is None:
            status, body, _ = self.api("GET", "/v1/me/home/security", token=token or self.token)
        else:
            status, body, _ = self.api("PUT", "/v1/me/home/security", {"mode": mode}, token=token or self.token)
        return status, body

    def state(self) -> str:
        status, body = self.security()
        assert status == 200, body
        return str(body["state"])

    def sensor(self, state: str = "motion", *, seen_at: int | None = None, event_id: str | None = None,
               thing: str = PANEL) -> None:
        """The panel reports; the hub receives it now (the sensor saw it at ``seen_at``)."""
        self.sent += 1
        now = self.clock.now_ms()
        payload = events.device_payload("security", event_id=event_id or f"{thing}-{self.sent}",
                                        ts=now if seen_at is None else seen_at, state=state)
        result = app.handler_map["handle_device_events"](
            events.sqs_device_event(payload, events.topic(self.cid, thing, "security"), thing, now), None)
        assert result == {"batchItemFailures": []}

    def advance(self, ms: int) -> None:
        self.clock.advance(ms)
        self.timers.fire_due(self.clock.now_ms())

    def alarms(self, status: str = "open") -> list[dict[str, Any]]:
        code, body, _ = self.api.admin("GET", f"/v1/admin/communities/{self.cid}/alarms?status={status}")
        assert code == 200, body
        return [a for a in body["items"] if a["kind"] == "intrusion"]


def outbox(event_type: str) -> list[dict[str, Any]]:
    items = sorted((i for i in OutboxItem.scan() if i.event_type == event_type), key=lambda i: i.created_at_ms)
    return [dict(i.data) for i in items]


@pytest.fixture
def home(hub: Deps, api: Api) -> Home:
    clock = FakeClock(T0)
    timers = RecordingTimers()
    hub.clock, hub.timer_queue = clock, timers
    status, body, _ = api.admin("POST", "/v1/admin/communities", {"name": "Sunny Gardens"})
    assert status == 201, body
    cid = str(body["community_id"])
    status, body, _ = api.admin("POST", f"/v1/admin/communities/{cid}/devices",
                                {"thing_name": PANEL, "type": "security_panel", "building": "3", "room": "502"})
    assert status == 201, body
    staff = {}
    for name, role in (("manager", "manager"), ("guard1", "guard"), ("guard2", "guard")):
        clock.advance(1_000)  # guard1 joined before guard2: it is asked first
        status, body, _ = api.admin("POST", f"/v1/admin/communities/{cid}/staff", {"name": name, "role": role})
        assert status == 201, body
        staff[name] = (str(body["staff_id"]), str(body["token"]))
    token, resident_id = login(api, "owner-3-502")
    assert api("PUT", "/v1/me/residence", {"community_id": cid, "building": "3", "room": "502"},
               token=token)[0] == 200
    return Home(api, hub, clock, timers, cid, token, resident_id, staff)


def armed(home: Home) -> int:
    """Arm away and wait out the exit delay; the arming time."""
    status, body = home.security("armed_away")
    assert status == 200 and body["state"] == "arming", body
    armed_at = home.clock.now_ms()
    home.advance(EXIT_MS)
    assert home.state() == "armed_away"
    return armed_at


def test_arming_waits_out_the_exit_delay_and_disarming_ends_it(home: Home) -> None:
    assert home.security()[1]["state"] == "disarmed"
    status, body = home.security("armed_away")
    assert status == 200
    assert body["household"] == "3-502" and body["mode"] == "armed_away" and body["state"] == "arming"
    assert body["armed_by"] == home.resident_id and body["exit_delay_s"] == 60 and body["entry_delay_s"] == 60
    home.advance(EXIT_MS - 1)
    assert home.state() == "arming"
    home.advance(1)
    assert home.state() == "armed_away"
    assert home.security("armed_away")[1]["armed_at"] == body["armed_at"]  # arming again changes nothing
    assert home.security("disarmed")[1]["state"] == "disarmed"


def test_motion_while_armed_raises_an_intrusion_alarm_when_the_entry_delay_runs_out(home: Home) -> None:
    armed(home)
    home.sensor("motion")
    assert home.state() == "pending"
    home.advance(ENTRY_MS - 1)
    assert home.alarms() == []
    home.advance(1)
    assert home.state() == "triggered"
    (alarm,) = home.alarms()
    assert alarm["severity"] == "critical" and alarm["subject"] == "3-502"
    assert alarm["asked"] == home.staff["guard1"][0]
    (raised,) = outbox("alarm.raised")
    assert raised["resident_id"] == home.resident_id and raised["kind"] == "intrusion"
    assert raised["asked"] == home.staff["guard1"][0]
    assert home.hub.alarms.get(alarm["alarm_id"]).chain == tuple(  # type: ignore[union-attr]
        home.staff[n][0] for n in ("guard1", "guard2", "manager"))


def test_disarming_during_the_entry_delay_raises_nothing(home: Home) -> None:
    armed(home)
    home.sensor("open")
    home.advance(ENTRY_MS // 2)
    assert home.security("disarmed")[1]["state"] == "disarmed"
    home.advance(ENTRY_MS)  # the timer fires and finds the home disarmed
    assert home.alarms() == [] and outbox("alarm.raised") == []


@pytest.mark.parametrize("case", ["closed", "disarmed", "exit_delay", "before_arming"])
def test_what_never_triggers(home: Home, case: str) -> None:
    if case == "disarmed":
        home.sensor("motion")
    elif case == "exit_delay":
        home.security("armed_away")
        home.advance(EXIT_MS - 1_000)
        home.sensor("motion")  # still leaving
    else:
        armed_at = armed(home)
        if case == "closed":
            home.sensor("closed")
        else:  # seen before the arming, delivered late
            home.sensor("motion", seen_at=armed_at - 1_000)
    assert home.state() in ("disarmed", "arming", "armed_away")
    home.advance(10 * ENTRY_MS)
    assert home.alarms() == [] and home.timers.scheduled == []


def test_duplicate_and_out_of_order_reports_raise_one_alarm(home: Home) -> None:
    armed(home)
    home.advance(30_000)
    home.sensor("motion", event_id="m-2")
    home.sensor("motion", event_id="m-2")  # redelivered
    home.sensor("motion", event_id="m-1", seen_at=home.clock.now_ms() - 20_000)  # earlier, arrives late
    body = home.security()[1]
    assert body["state"] == "pending"
    home.advance(ENTRY_MS - 20_000)  # the entry delay counts from the earliest report
    assert home.state() == "triggered"
    home.sensor("motion", event_id="m-3")
    home.advance(ENTRY_MS)
    (alarm,) = home.alarms()
    assert alarm["trigger_count"] == 1
    assert len(outbox("alarm.raised")) == 1


def test_a_timer_of_an_earlier_arming_is_stale(home: Home) -> None:
    armed(home)
    home.sensor("motion")
    home.security("disarmed")
    armed(home)  # re-armed; the first entry delay's timer fires in here
    home.advance(ENTRY_MS)
    assert home.state() == "armed_away" and home.alarms() == []


def test_the_minute_job_ends_an_entry_delay_whose_timer_was_lost(home: Home) -> None:
    armed(home)
    home.sensor("motion")
    home.timers.scheduled.clear()  # the timer never made it
    home.clock.advance(ENTRY_MS)
    assert app.handler_map["run_alarm_jobs"](events.load("lambda/scheduled"), None) == {"escalated": 0,
                                                                                       "triggered": 1}
    assert len(home.alarms()) == 1


def _intrusion(home: Home) -> str:
    armed(home)
    home.sensor("motion")
    home.advance(ENTRY_MS)
    (alarm,) = home.alarms()
    return str(alarm["alarm_id"])


def test_an_unacknowledged_intrusion_escalates_guard_by_guard_to_the_manager(home: Home) -> None:
    alarm_id = _intrusion(home)
    ids = {name: sid for name, (sid, _) in home.staff.items()}
    home.advance(ACK_MS - 1)
    assert [a["asked"] for a in home.alarms()] == [ids["guard1"]]
    home.advance(1)
    assert [a["asked"] for a in home.alarms()] == [ids["guard2"]]
    home.advance(ACK_MS)
    assert [a["asked"] for a in home.alarms()] == [ids["manager"]]
    assert [(e["alarm_id"], e["asked"]) for e in outbox("alarm.escalated")] == [
        (alarm_id, ids["guard2"]), (alarm_id, ids["manager"])]


def test_an_acknowledgement_stops_the_escalation(home: Home) -> None:
    alarm_id = _intrusion(home)
    home.advance(ACK_MS)
    guard2, token = home.staff["guard2"]
    status, body, _ = home.api("POST", f"/v1/admin/communities/{home.cid}/alarms/{alarm_id}/ack", token=token)
    assert status == 200 and body["acknowledged_by"] == f"staff:{guard2}", body
    home.advance(10 * ACK_MS)
    assert app.handler_map["run_alarm_jobs"](events.load("lambda/scheduled"), None)["escalated"] == 0
    assert home.alarms() == [] and len(home.alarms("acknowledged")) == 1
    assert len(outbox("alarm.escalated")) == 1


def test_a_timer_sent_through_the_real_queue_fires(home: Home) -> None:
    _intrusion(home)
    (escalation,) = home.timers.scheduled  # what the hub asked for: ask the next guard in 2 minutes
    home.clock.advance(ACK_MS)
    # through the real adapter and queue (moto delays on real time, so it is sent when it is due)
    SqsTimerQueue().schedule(escalation, home.clock.now_ms())
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=TIMER_QUEUE)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    result = app.handler_map["fire_timers"](events.sqs_event(events.sqs_record(messages[0]["Body"])), None)
    assert result == {"batchItemFailures": []}
    assert [a["asked"] for a in home.alarms()] == [home.staff["guard2"][0]]


def test_a_malformed_timer_is_a_failed_record_not_a_lost_batch(home: Home) -> None:
    alarm_id = _intrusion(home)
    home.clock.advance(ACK_MS)
    good = events.sqs_record(timer_body(Timer("alarm_escalation", {"alarm_id": alarm_id}, T0 + 3 * ACK_MS)))
    bad = events.sqs_record("not json")
    result = app.handler_map["fire_timers"](events.sqs_event(good, bad), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": bad["messageId"]}]}


def test_a_resident_needs_a_residence_and_a_valid_mode(home: Home) -> None:
    token, _ = login(home.api, "newcomer")
    status, body = home.security("armed_away", token=token)
    assert status == 422 and body["error"]["code"] == "no_residence"
    status, body = home.security("armed_home")
    assert status == 400
    assert home.api("GET", "/v1/me/home/security")[0] == 401
    assert home.api.admin("GET", "/v1/me/home/security")[0] == 403


def test_another_households_panel_does_not_trigger_this_home(home: Home) -> None:
    assert home.api.admin("POST", f"/v1/admin/communities/{home.cid}/devices",
                          {"thing_name": "panel-0002", "type": "security_panel", "building": "3",
                           "room": "503"})[0] == 201
    armed(home)
    home.sensor("motion", thing="panel-0002")
    home.advance(ENTRY_MS)
    assert home.state() == "armed_away" and home.alarms() == []
