"""``up --demo``: a small simulated community living day after day inside the hub's own process, so a
newcomer opening the API, the staff console or the TV feed finds residents recycling, bins filling,
partners at work. Gentle on purpose: 30 households at 60× (a day every 24 minutes), no progress bar,
one log line per day."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from localcloud.simulator.outcome import look
from localcloud.simulator.progress import Progress
from localcloud.simulator.simulation import Options, Simulation

log = logging.getLogger("localcloud.simulator")
HOUSEHOLDS = 30
SPEED = 60.0


def demo_options(stack: Any, households: int = HOUSEHOLDS, speed: float = SPEED) -> Options:
    config = stack.config
    return Options(api=f"http://{config.host}:{config.api_port}", mqtt_host=config.host, mqtt_port=stack.gateway.port,
                   sandbox=str(stack.wechat_base).rstrip("/"), admin_token=config.admin_token,
                   aws=os.environ.get("AWS_ENDPOINT_URL"), region=config.region, households=households, hours=24,
                   speed=speed, seed=int.from_bytes(os.urandom(2), "big"), settle_timeout_s=120,
                   name=f"幸福里 · {households} 户 (living demo)",
                   # the cap counts per China calendar day, and a demo day lasts 24 / speed hours of it
                   settings={"daily_cap_fen": min(1_000_000, 5_000 * max(1, round(speed)))})


def hours_since_six(now: float | None = None) -> float:
    """Hours since the latest 06:00 China time (at least one)."""
    china_hours = ((time.time() if now is None else now) / 3600 + 8) % 24
    return max(1.0, (china_hours - 6) % 24)


def live_in_background(stack: Any, households: int = HOUSEHOLDS, speed: float = SPEED) -> threading.Thread:
    simulation = Simulation(demo_options(stack, households, speed), Progress(quiet=True))
    thread = threading.Thread(target=_live, args=(simulation,), name="demo-community", daemon=True)
    thread.start()
    threading.Thread(target=_close_with, args=(stack, simulation), name="demo-community-watch", daemon=True).start()
    return thread


def _close_with(stack: Any, simulation: Simulation) -> None:
    """Stop the community as soon as the hub stops (its gateway goes first), so Ctrl-C stays quick."""
    while getattr(stack.gateway, "running", False):
        time.sleep(0.5)
    simulation.close()


def _live(simulation: Simulation) -> None:
    options = simulation.options
    try:
        community = simulation.found()
        log.info("living demo community %s: %d households, a day every %.0f minutes", community.community_id,
                 options.households, 24 * 60 / options.speed)
        day = 0
        while True:
            since = int(simulation.agenda.clock.real_start * 1000)
            # the first day starts this morning at six, so the first minutes show the morning rush
            simulation.live_day(day, hours=None if day else hours_since_six())
            if simulation.closed:
                return  # the hub is stopping: its ledger is no longer there to read
            view = look(simulation.hub, community.community_id, community.staff["manager"], simulation.tally, since)
            ledger = view.ledger.get("totals", {})
            log.info("demo day %d: %d weigh-ins credited so far, %d orders completed, %d alarms, ledger %s",
                     day + 1, ledger.get("credits", 0), view.orders.get("completed", 0), sum(view.alarms.values()),
                     "ok" if view.ledger.get("invariants_ok") else "VIOLATED")
            day += 1
    except Exception:
        if simulation.hub.healthy():
            log.warning("the demo community stopped", exc_info=True)
    finally:
        simulation.close()
