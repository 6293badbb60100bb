"""Setting the community up through the admin API, as its property manager would on the first day."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from localcloud.simulator import habits
from localcloud.simulator.agenda import Agenda
from localcloud.simulator.hub_client import HubClient
from localcloud.simulator.partners import PartnerDesk
from localcloud.simulator.residents import Residents
from localcloud.simulator.tally import Tally
from localcloud.simulator.town import TownPlan, plan_town

STAFF = (("王师傅", "guard"), ("李师傅", "guard"), ("张阿姨", "cleaner"), ("陈经理", "manager"))
#: the security delays are wall-clock seconds at the hub; a compressed day keeps them short
EXIT_DELAY_S = 5
ENTRY_DELAY_S = 10
Step = Callable[[str, int, int], None]  # what, done, of


@dataclass
class Community:
    community_id: str
    town: TownPlan
    staff: dict[str, str]  # role → token (the first of each role)
    partners: list[PartnerDesk]
    residents: Residents
    armed_at: float  # wall time the last home was armed (motion counts only after the exit delay)


def identity(community_id: str) -> tuple[str, str]:
    """A short tag for thing names and a seven-digit phone prefix, both derived from the community id."""
    digest = hashlib.sha256(community_id.encode()).hexdigest()
    return "s" + digest[:6], "13" + f"{int(digest[6:16], 16) % 100_000:05d}"


def heartbeat_interval_s(speed: float, longest_gap_h: float) -> int:
    """Devices here stay quiet for up to ``longest_gap_h`` simulated hours; on the wall clock that is
    ``gap / speed``. The hub calls a device silent after three intervals; half the gap leaves room."""
    return max(300, min(86_400, math.ceil(longest_gap_h * 3600 / speed / 2)))


def found(hub: HubClient, households: int, seed: int, speed: float, agenda: Agenda, tally: Tally, step: Step,
          name: str | None = None, settings: dict[str, int] | None = None) -> Community:
    cid = str(hub.call("POST", "/v1/admin/communities", {"name": name or f"阳光花园 · {households} 户 (simulated)"})
              ["community_id"])
    tag, phone_prefix = identity(cid)
    town = plan_town(households, seed, tag)
    base = f"/v1/admin/communities/{cid}"
    hub.call("PUT", base + "/settings", {"heartbeat_interval_s": heartbeat_interval_s(speed, 24),
                                        "security_exit_delay_s": EXIT_DELAY_S,
                                        "security_entry_delay_s": ENTRY_DELAY_S, **(settings or {})})
    hub.call("PUT", base + "/recycling-prices", {"prices": habits.PRICES_FEN})
    staff: dict[str, str] = {}
    for person, role in STAFF:
        made = hub.call("POST", base + "/staff", {"name": person, "role": role})
        staff.setdefault(role, str(made["token"]))
    desks = [PartnerDesk(partner, hub, agenda, tally, seed) for partner, _ in habits.PARTNERS]
    for service_id, (label, price, *_) in habits.SERVICES.items():
        hub.call("PUT", f"{base}/services/{service_id}", {"name": label, "price_fen": price, "fulfilled_by": "partner",
                                                          "accept_sla_s": 900, "complete_sla_s": 6 * 3600})
    for n, (desk, (partner, stripe_account)) in enumerate(zip(desks, habits.PARTNERS, strict=True)):
        services = [s for s, spec in habits.SERVICES.items() if spec[2] == n]
        body = {"name": partner, "services": services, "webhook_url": desk.url}
        if stripe_account:
            body["stripe_account"] = stripe_account
        made = hub.call("POST", base + "/partners", body)
        desk.secret, desk.api_key = str(made["webhook_secret"]), str(made["api_key"])
    devices = town.devices()
    for done, spec in enumerate(devices, 1):
        hub.call("POST", base + "/devices", spec.registration())
        if done % 25 == 0 or done == len(devices):
            step("registering devices", done, len(devices))
    residents = Residents(hub, cid, phone_prefix, tally, run_tag=tag)
    panels = town.panels()
    for done, home in enumerate(panels, 1):  # these families are away: they armed the home from the app
        residents.bind_phone(home)
        residents.set_security(home, "armed_away")
        step("arming homes", done, len(panels))
    return Community(cid, town, staff, desks, residents, armed_at=time.time())
