"""``python -m localcloud up [--demo]``: the whole hub on this machine, until Ctrl-C or SIGTERM.
``python -m localcloud simulate``: a simulated community day through a running hub."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from localcloud.config import LocalConfig
from localcloud.simulator import cli as simulator_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the hub locally")
    up.add_argument("--demo", action="store_true", help="seed a demo community with a few devices")
    simulator_cli.add_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "simulate":
        return simulator_cli.run(args)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stdout)
    for noisy in ("werkzeug", "amqtt", "transitions", "botocore", "urllib3", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from localcloud.stack import Stack

    stack = Stack(LocalConfig.from_env())
    done = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        logging.getLogger("localcloud").info("received %s, stopping", signal.Signals(signum).name)
        done.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.start()
        if args.demo:
            from localcloud.demo import seed

            seed(stack)
        print(f"Linli hub ready: http://{stack.config.host}:{stack.config.api_port}/healthz  (Ctrl-C stops)",
              flush=True)
        done.wait()
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
