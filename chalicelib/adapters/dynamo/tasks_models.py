"""PynamoDB items of trash bins and cleaning tasks, in the hub table (see models.py for the rest).

  BIN#{thing}        STATE   a bin's last applied reading and its open task (version-conditioned)
  TASK#{task_id}     T       a cleaning task    gsi1: TASKS#{cid}#{status} / {opened_ms}#{task_id}
  OPEN_TASK#{thing}  K       the bin's open task: created with does-not-exist, deleted when it closes,
                             so DynamoDB itself refuses a second open task for one bin
"""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.adapters.dynamo.models import HubItem


def bin_key(thing_name: str) -> tuple[str, str]:
    return f"BIN#{thing_name}", "STATE"


def task_key(task_id: str) -> tuple[str, str]:
    return f"TASK#{task_id}", "T"


def open_task_key(thing_name: str) -> tuple[str, str]:
    return f"OPEN_TASK#{thing_name}", "K"


def tasks_of(community_id: str, status: str) -> str:
    return f"TASKS#{community_id}#{status}"


class BinStateItem(HubItem, discriminator="bin_state"):
    thing_name = UnicodeAttribute()
    community_id = UnicodeAttribute()
    last_ts_ms = NumberAttribute()
    last_event_id = UnicodeAttribute(null=True)
    last_fill_pct = NumberAttribute(null=True)
    open_task_id = UnicodeAttribute(null=True)
    version = NumberAttribute()


class CleaningTaskItem(HubItem, discriminator="cleaning_task"):
    """The task as JSON plus what conditions and indexes need."""

    task_id = UnicodeAttribute()
    status = UnicodeAttribute()
    data = JSONAttribute()


class OpenTaskKeyItem(HubItem, discriminator="open_task_key"):
    task_id = UnicodeAttribute()
