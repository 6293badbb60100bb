"""Trash bins → cleaning tasks, through the real device handler (SQS event) and the staff API, over moto."""

from __future__ import annotations

import time
from typing import Any

import pytest

from app import app
from chalicelib.adapters.dynamo.models import OutboxItem
from chalicelib.services.deps import Deps
from tests.integration.test_api import Api
from tests.integration.test_api import api as api  # the fixture
from tests.support import events

BIN = "trash-0001"
MINUTE = 60_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Bins:
    """A community with one trash bin (and a cleaner, a guard), and the bin's messages."""

    def __init__(self, api: Api, name: str = "Sunny Gardens") -> None:
        self.api = api
        status, body, _ = api.admin("POST", "/v1/admin/communities", {"name": name})
        assert status == 201
        self.cid = str(body["community_id"])
        self.base = f"/v1/admin/communities/{self.cid}"
        status, body, _ = api.admin("POST", self.base + "/devices",
                                    {"thing_name": f"{BIN}-{self.cid[-6:]}", "type": "trash_bin",
                                     "location": "north gate"})
        assert status == 201, body
        self.thing = str(body["thing_name"])
        self.cleaner_id, self.cleaner = self.staff("Li Ayi", "cleaner")
        _, self.guard = self.staff("Wang", "guard")
        self.start = now_ms() - 60 * MINUTE

    def staff(self, name: str, role: str) -> tuple[str, str]:
        status, body, _ = self.api.admin("POST", self.base + "/staff", {"name": name, "role": role})
        assert status == 201, body
        return str(body["staff_id"]), str(body["token"])

    def fill(self, pct: float, at_minute: int, event_id: str | None = None) -> None:
        """The sample fill message (events/devices/fill.json) with this fill, ``at_minute`` after start."""
        payload = events.device_payload("fill", event_id=event_id or f"fill-{at_minute}-{pct}", fill_pct=pct,
                                        ts=self.start + at_minute * MINUTE)
        event = events.sqs_device_event(payload, events.topic(self.cid, self.thing, "fill"), self.thing, now_ms())
        assert app.handler_map["handle_device_events"](event, None) == {"batchItemFailures": []}

    def tasks(self, status: str = "open", token: str | None = None) -> list[dict[str, Any]]:
        code, body, _ = self.api("GET", f"{self.base}/tasks?status={status}", token=token or self.cleaner)
        assert code == 200, body
        return list(body["items"])


@pytest.fixture
def bins(hub: Deps, api: Api) -> Bins:
    return Bins(api)


def outbox(event_type: str) -> list[dict[str, Any]]:
    return [dict(i.data) for i in OutboxItem.scan() if i.event_type == event_type]


def test_a_full_bin_opens_one_task_and_tells_the_cleaners(bins: Bins) -> None:
    bins.fill(91, 0)
    bins.fill(95, 5)
    bins.fill(95, 5)  # redelivered
    bins.fill(100, 9)
    [task] = bins.tasks()
    assert task["thing_name"] == bins.thing and task["location"] == "north gate" and task["kind"] == "cleaning"
    assert task["fill_pct"] == 91 and task["closed_at"] is None and task["time_to_empty_s"] is None
    [opened] = outbox("task.opened")
    assert opened["task_id"] == task["task_id"] and opened["cleaners"] == [bins.cleaner_id]


def test_emptying_closes_the_task_with_its_time_to_empty(bins: Bins) -> None:
    bins.fill(95, 0)
    bins.fill(80, 10)  # bags settled: still full enough
    assert len(bins.tasks()) == 1
    bins.fill(10, 25)
    assert bins.tasks() == []
    [closed] = bins.tasks("closed")
    assert closed["time_to_empty_s"] == 25 * 60 and closed["closed_by"] == "bin"
    assert [e["time_to_empty_s"] for e in outbox("task.closed")] == [25 * 60]
    bins.fill(92, 40)  # full again: a new task
    assert len(bins.tasks()) == 1 and len(bins.tasks("closed")) == 1


def test_a_late_reading_neither_reopens_nor_closes(bins: Bins) -> None:
    bins.fill(95, 0)
    bins.fill(5, 20)
    bins.fill(97, 10)  # sent before the emptying, arrives after it
    assert bins.tasks() == [] and len(bins.tasks("closed")) == 1
    bins.fill(96, 30)
    bins.fill(3, 25)  # sent before the new full reading
    assert len(bins.tasks()) == 1


def test_the_threshold_is_the_communitys_setting(bins: Bins) -> None:
    bins.fill(80, 0)
    assert bins.tasks() == []
    assert bins.api.admin("PUT", bins.base + "/settings", {"fill_alert_pct": 75})[0] == 200
    bins.fill(80, 1)
    assert len(bins.tasks()) == 1


def test_an_impossible_fill_is_a_reject_not_a_task(bins: Bins) -> None:
    bins.fill(120, 0)
    assert bins.tasks() == []
    _, rejects, _ = bins.api.admin("GET", bins.base + "/rejects")
    assert [r["reason"] for r in rejects["items"]] == ["implausible_value"]


def test_staff_close_a_task_by_hand_and_the_next_full_reading_opens_another(bins: Bins) -> None:
    bins.fill(95, 0)
    [task] = bins.tasks()
    status, closed, _ = bins.api("POST", f"{bins.base}/tasks/{task['task_id']}/close", token=bins.cleaner)
    assert status == 200 and closed["status"] == "closed" and closed["closed_by"] == f"staff:{bins.cleaner_id}"
    again = bins.api("POST", f"{bins.base}/tasks/{task['task_id']}/close", token=bins.cleaner)
    assert again[:2] == (200, closed)
    bins.fill(96, 5)  # the bin is still full: that is a new task
    assert len(bins.tasks()) == 1


def test_only_cleaners_and_managers_of_the_community_see_its_tasks(bins: Bins, api: Api) -> None:
    bins.fill(95, 0)
    [task] = bins.tasks()
    _, manager = bins.staff("Zhao", "manager")
    assert len(bins.tasks(token=manager)) == 1
    assert api("GET", f"{bins.base}/tasks", token=bins.guard)[0] == 403
    other = Bins(api, "Other Gardens")
    assert api("GET", f"{bins.base}/tasks", token=other.cleaner)[0] == 403
    assert api("POST", f"{bins.base}/tasks/{task['task_id']}/close", token=other.cleaner)[0] == 403
    assert api("POST", f"{other.base}/tasks/{task['task_id']}/close", token=other.cleaner)[0] == 404
    assert api("GET", f"{bins.base}/tasks")[0] == 401
    assert api("GET", f"{bins.base}/tasks?status=done", token=bins.cleaner)[0] == 400
    assert len(bins.tasks()) == 1


def test_tasks_page_newest_first(bins: Bins, api: Api) -> None:
    for i in range(3):
        bins.fill(95, i * 10)
        bins.fill(5, i * 10 + 5)
    code, first, _ = api("GET", f"{bins.base}/tasks?status=closed&limit=2", token=bins.cleaner)
    assert code == 200 and len(first["items"]) == 2 and first["next_cursor"]
    code, rest, _ = api("GET", f"{bins.base}/tasks?status=closed&limit=2&cursor={first['next_cursor']}",
                        token=bins.cleaner)
    opened = [t["opened_at"] for t in first["items"] + rest["items"]]
    assert code == 200 and len(opened) == 3 and opened == sorted(opened, reverse=True)
