"""Alarms over moto through the service and the staff routes: one open alarm per condition even when
triggers race, events in the outbox, acknowledgement and clearing by staff of the community only."""

from __future__ import annotations

import threading

import pytest

from chalicelib.adapters.dynamo.models import OutboxItem
from chalicelib.domain.alarms import AlarmSpec, Severity
from chalicelib.services import alarms, communities
from chalicelib.services.deps import Deps
from tests.integration.test_api import Api
from tests.integration.test_api import api as api  # the fixture


def leak(cid: str, detail: str = "01:00") -> AlarmSpec:
    return AlarmSpec(community_id=cid, kind="leak", dedup_key="leak:3-502:20260101", severity=Severity.CRITICAL,
                     title="疑似漏水", subject="3-502", detail={"hour": detail}, resident_id="r_1")


def outbox_types() -> list[str]:
    return sorted(str(item.event_type) for item in OutboxItem.scan())


@pytest.mark.usefixtures("atomic_moto")
def test_racing_triggers_open_one_alarm(hub: Deps) -> None:
    cid = communities.create_community(hub, "Sunny Gardens").community_id
    barrier = threading.Barrier(4)

    def trigger(n: int) -> None:
        barrier.wait()
        alarms.raise_alarm(hub, leak(cid, f"0{n}:00"))

    threads = [threading.Thread(target=trigger, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    page = alarms.list_alarms(hub, cid, "open", 10, None)
    assert len(page.items) == 1 and page.items[0].trigger_count == 4
    assert outbox_types().count("alarm.raised") == 1


def test_staff_acknowledge_and_clear_then_the_condition_can_alarm_again(hub: Deps, api: Api) -> None:
    cid = communities.create_community(hub, "Sunny Gardens").community_id
    other = communities.create_community(hub, "Other Gardens").community_id
    first = alarms.raise_alarm(hub, leak(cid))
    guard = api.admin("POST", f"/v1/admin/communities/{cid}/staff", {"name": "张保安", "role": "guard"})[1]["token"]
    cleaner = api.admin("POST", f"/v1/admin/communities/{cid}/staff", {"name": "王", "role": "cleaner"})[1]["token"]
    stranger = api.admin("POST", f"/v1/admin/communities/{other}/staff", {"name": "李", "role": "manager"})[1]["token"]
    base = f"/v1/admin/communities/{cid}/alarms"
    assert api("GET", base + "?status=open", token=cleaner)[0] == 403
    assert api("GET", base + "?status=open", token=stranger)[0] == 403
    assert api("POST", f"/v1/admin/communities/{other}/alarms/{first.alarm_id}/ack", token=stranger)[0] == 404
    status, listed, _ = api("GET", base + "?status=open", token=guard)
    assert status == 200 and [a["alarm_id"] for a in listed["items"]] == [first.alarm_id]
    status, acked, _ = api("POST", f"{base}/{first.alarm_id}/ack", token=guard)
    assert status == 200 and acked["status"] == "acknowledged" and acked["acknowledged_by"].startswith("staff:")
    assert api("GET", base + "?status=open", token=guard)[1]["items"] == []
    # still the same condition: a new trigger updates the acknowledged alarm
    assert alarms.raise_alarm(hub, leak(cid)).alarm_id == first.alarm_id
    status, cleared, _ = api("POST", f"{base}/{first.alarm_id}/clear", token=guard)
    assert status == 200 and cleared["status"] == "cleared"
    second = alarms.raise_alarm(hub, leak(cid))
    assert second.alarm_id != first.alarm_id
    assert api("GET", base + "?status=bogus", token=guard)[0] == 400
    alarm_events = [t for t in outbox_types() if t.startswith("alarm.")]
    assert alarm_events == ["alarm.acknowledged", "alarm.cleared", "alarm.raised", "alarm.raised"]
