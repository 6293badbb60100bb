"""``python -m localcloud simulate``: a community day through a running local hub, with a summary table,
an HTML report and the ledger check. Exit 0 only when the ledger balances and every expected effect
was seen; 1 when something was missing; 2 when there is no hub to talk to."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

DEFAULT_REPORT = Path("build") / "simulation" / "report.html"


def add_command(commands: Any) -> None:
    """Register ``simulate`` on the ``python -m localcloud`` sub-command parser."""
    parser = commands.add_parser("simulate", help="live a simulated community day through a running local hub",
                                 description=__doc__)
    parser.add_argument("--households", type=int, default=500, help="households in the community (default 500)")
    parser.add_argument("--hours", type=float, default=24, help="simulated hours, at most 24, ending now (default 24)")
    parser.add_argument("--speed", type=float, default=600, help="simulated seconds per wall second (default 600)")
    parser.add_argument("--seed", type=int, default=1, help="the scenario's seed (default 1)")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help=f"HTML report (default {DEFAULT_REPORT})")
    parser.add_argument("--api", help="the hub's API base URL (default from LINLI_API_PORT)")
    parser.add_argument("--mqtt-port", type=int, help="the MQTT gateway's port (default LINLI_MQTT_PORT)")
    parser.add_argument("--sandbox", help="the WeChat/Stripe sandbox base URL (default from LINLI_SANDBOX_PORT)")
    parser.add_argument("--aws", help="the embedded AWS endpoint, to watch the hub's backlog (default from "
                                      "AWS_ENDPOINT_URL or LINLI_AWS_PORT)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds to wait after the day for the hub to catch up (default 600)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def options_from(args: argparse.Namespace) -> Any:
    from localcloud.config import LocalConfig
    from localcloud.simulator.simulation import Options

    config = LocalConfig.from_env()
    host = config.host
    return Options(
        api=(args.api or f"http://{host}:{config.api_port}").rstrip("/"),
        mqtt_host=host, mqtt_port=args.mqtt_port or config.mqtt_port,
        sandbox=(args.sandbox or f"http://{host}:{config.sandbox_port}").rstrip("/"),
        admin_token=config.admin_token, aws=args.aws or config.aws_endpoint_url or f"http://{host}:{config.aws_port}",
        region=config.region, households=args.households, hours=args.hours, speed=args.speed, seed=args.seed,
        settle_timeout_s=args.timeout)


def run(args: argparse.Namespace) -> int:
    from localcloud.simulator import report, summary
    from localcloud.simulator.clock import SimClock
    from localcloud.simulator.hub_client import HubError
    from localcloud.simulator.progress import Progress
    from localcloud.simulator.simulation import Simulation
    from localcloud.simulator.town import MAX_HOUSEHOLDS

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        SimClock.ending_now(args.hours, args.speed)
    except ValueError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    if not 1 <= args.households <= MAX_HOUSEHOLDS:
        print(f"simulate: --households must be within 1..{MAX_HOUSEHOLDS}", file=sys.stderr)
        return 2
    options = options_from(args)
    progress = Progress(quiet=args.quiet)
    simulation = Simulation(options, progress)
    if not simulation.hub.healthy():
        print(f"simulate: no hub answers at {options.api}/healthz — start one with `make run` "
              "(or python -m localcloud up), or point --api/--mqtt-port/--sandbox at it", file=sys.stderr)
        return 2
    try:
        simulation.found()
        began_ms = int(simulation.agenda.clock.real_start * 1000)
        plan = simulation.live_day(0)
        progress.note("checking what the hub shows …")
        view, wrong = simulation.check(plan, began_ms)
    except HubError as exc:
        progress.stop()
        print(f"simulate: the hub refused a call the simulation needs: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("simulate: interrupted", file=sys.stderr)
        return 130
    finally:
        simulation.close()
    simulation.facts.report_path = str(args.report)
    wrong += [f"a resident's, partner's or staff member's action failed: {f}" for f in simulation.agenda.failures[:5]]
    table = summary.lines(simulation.facts, simulation.tally, view, wrong)
    report.write(args.report, report.render(simulation.facts, simulation.tally, view, table, not wrong))
    print("\n".join(table), flush=True)
    return 0 if not wrong else 1
