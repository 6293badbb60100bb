"""Away mode: residents arm and disarm their home; the household's security panel reports motion and
doors; an entry delay that runs out raises the intrusion alarm (domain/security.py has the rules).

The end of an entry delay is a timer on the timer queue (delivered on time, re-checked when it fires:
a disarm in between makes it a no-op); the minute job ``fire_due_entries`` is the backstop for a timer
that could not be sent. The alarm's dedup key (``intrusion:{household}``) and the ``triggered`` mark
together keep duplicate and out-of-order reports from raising a second alarm.
"""

from __future__ import annotations

from chalicelib.domain import security as rules
from chalicelib.domain.device_messages import DeviceMessage, SecurityEvent
from chalicelib.domain.devices import Device
from chalicelib.domain.errors import Conflict, DomainError
from chalicelib.domain.identity import Principal
from chalicelib.domain.security import HomeSecurity, SecurityMode, Sensed
from chalicelib.ports import SaveOutcome, Timer
from chalicelib.services import alarms
from chalicelib.services.deps import Deps
from chalicelib.services.identity import current_resident

MAX_RACES = 5
#: the timer that ends an entry delay (handlers/timers.py)
ENTRY_TIMER = "entry_delay"


class NoResidence(DomainError):
    code = "no_residence"


def _household(deps: Deps, principal: Principal) -> tuple[str, str]:
    resident = current_resident(deps, principal)
    if not (resident.community_id and resident.building and resident.room):
        raise NoResidence("set your residence first (PUT /v1/me/residence)")
    return resident.community_id, f"{resident.building}-{resident.room}"


def _load(deps: Deps, community_id: str, household: str) -> tuple[HomeSecurity, int | None]:
    """The stored state and its version (None: never armed, nothing stored)."""
    stored = deps.home_security.get(community_id, household)
    if stored is None:
        return HomeSecurity(community_id=community_id, household=household), None
    return stored, stored.version


def current(deps: Deps, principal: Principal) -> HomeSecurity:
    return _load(deps, *_household(deps, principal))[0]


def set_mode(deps: Deps, principal: Principal, raw_mode: object) -> HomeSecurity:
    """Arm away (the exit delay starts) or disarm (a running entry delay ends without an alarm)."""
    mode = rules.parse_mode(raw_mode)
    community_id, household = _household(deps, principal)
    for _ in range(MAX_RACES):
        home, version = _load(deps, community_id, household)
        now = deps.clock.now_ms()
        if mode is SecurityMode.ARMED_AWAY:
            settings = deps.communities.terms(community_id).settings
            after = rules.arm(home, principal.subject, now, settings.security_exit_delay_s,
                              settings.security_entry_delay_s)
        else:
            after = rules.disarm(home, now)
        if after is home or deps.home_security.save(after, version) is SaveOutcome.SAVED:
            return after
    raise Conflict("the home's security is changing too fast; try again", code="security_busy")


def on_security_message(deps: Deps, message: DeviceMessage, device: Device) -> None:
    """The device-event effect of ``security`` reports (idempotent: a repeat finds the entry delay
    running, or the home triggered, and changes nothing)."""
    reading = message.reading
    household = device.household
    if not isinstance(reading, SecurityEvent) or household is None:
        return  # a panel registered without building/room belongs to no home
    # when the sensor saw it: never after the hub received it, whatever the device clock says
    seen_at = min(message.ts_ms, message.received_at_ms)
    trigger = {"thing_name": message.thing_name, "event_id": message.event_id, "sensor": reading.sensor,
               "state": reading.state}
    for _ in range(MAX_RACES):
        home, version = _load(deps, device.community_id, household)
        outcome, after = rules.sensed(home, reading.state, seen_at, trigger, deps.clock.now_ms())
        if after is home:
            return
        if deps.home_security.save(after, version) is not SaveOutcome.SAVED:
            continue
        if outcome in (Sensed.ENTRY_DELAY_STARTED, Sensed.ALREADY_PENDING):
            _wait_for_entry_delay(deps, after)
        return
    raise Conflict("the home's security is changing too fast; try again", code="security_busy")


def _wait_for_entry_delay(deps: Deps, home: HomeSecurity) -> None:
    deadline = home.entry_deadline_ms
    assert deadline is not None and home.armed_at_ms is not None
    if deadline <= deps.clock.now_ms():  # the report came in after its entry delay had passed
        _raise_intrusion(deps, home.community_id, home.household, home.armed_at_ms)
    elif deps.timer_queue is not None:
        deps.timer_queue.schedule(_entry_timer(home, deadline), deps.clock.now_ms())


def _entry_timer(home: HomeSecurity, deadline_ms: int) -> Timer:
    return Timer(ENTRY_TIMER, {"community_id": home.community_id, "household": home.household,
                               "armed_at_ms": home.armed_at_ms}, deadline_ms)


def on_entry_timer(deps: Deps, timer: Timer) -> str:
    """An entry-delay timer fired: raise the intrusion alarm unless the home was disarmed (or re-armed)
    meanwhile."""
    community_id, household = str(timer.subject.get("community_id")), str(timer.subject.get("household"))
    armed_at = timer.subject.get("armed_at_ms")
    home = deps.home_security.get(community_id, household)
    deadline = None if home is None else home.entry_deadline_ms
    if home is None or home.armed_at_ms is None or home.armed_at_ms != armed_at or deadline is None:
        return "stale"
    if deadline > deps.clock.now_ms():  # early: the queue could not delay it that long
        if deps.timer_queue is not None:
            deps.timer_queue.schedule(_entry_timer(home, deadline), deps.clock.now_ms())
        return "early"
    return _raise_intrusion(deps, community_id, household, home.armed_at_ms)


def _raise_intrusion(deps: Deps, community_id: str, household: str, armed_at_ms: int) -> str:
    """Raise first, then mark the home triggered: a crash in between raises again on the retry, which
    the alarm's dedup turns into a count on the same alarm."""
    for _ in range(MAX_RACES):
        home = deps.home_security.get(community_id, household)
        now = deps.clock.now_ms()
        if home is None or not rules.entry_delay_over(home, armed_at_ms, now):
            return "stale"
        settings = deps.communities.terms(community_id).settings
        chain = rules.guard_chain(deps.staff.list_for_community(community_id))
        alarms.raise_alarm(deps, rules.intrusion_alarm(home, chain, settings.guard_ack_timeout_s))
        if deps.home_security.save(rules.triggered(home, now), home.version) is SaveOutcome.SAVED:
            return "triggered"
    raise Conflict("the home's security is changing too fast; try again", code="security_busy")


def fire_due_entries(deps: Deps, limit: int = 100) -> int:
    """The minute job's share: entry delays that ended without their timer firing."""
    fired = 0
    for home in deps.home_security.due_entries(deps.clock.now_ms(), limit):
        armed_at = home.armed_at_ms
        if armed_at is not None and _raise_intrusion(deps, home.community_id, home.household, armed_at) == "triggered":
            fired += 1
    return fired
