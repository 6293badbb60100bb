"""A progress bar on stderr — simulated clock, events sent, orders, hub lag — or, when stderr is not a
terminal (CI), a plain line every few seconds."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from localcloud.simulator.backlog import DeviceQueue
from localcloud.simulator.clock import SimClock, china_clock
from localcloud.simulator.tally import Tally

WIDTH = 24


class Progress:
    def __init__(self, stream: TextIO | None = None, quiet: bool = False, line_every_s: float = 10) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.line_every_s = line_every_s
        self._last_line = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rates: list[tuple[float, int]] = []  # (wall time, messages the hub has processed)

    def _write(self, text: str, final: bool = False) -> None:
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r\x1b[2K" + text + ("\n" if final else ""))
            self.stream.flush()
        elif final or time.monotonic() - self._last_line >= self.line_every_s:
            self.stream.write(text + "\n")
            self.stream.flush()
            self._last_line = time.monotonic()

    def step(self, what: str, done: int, total: int) -> None:
        self._write(f"setting up: {what} {done}/{total}", final=done == total)

    def note(self, text: str) -> None:
        self._write(text, final=True)

    def follow(self, clock: SimClock, tally: Tally, queue: DeviceQueue, label: str = "") -> None:
        """Redraw twice a second (sample the hub's backlog every two) until ``stop``."""
        self._stop.clear()

        def loop() -> None:
            backlog: int | None = None
            sampled = 0.0
            while not self._stop.wait(0.5):
                if time.monotonic() - sampled >= 2:
                    sampled = time.monotonic()
                    backlog = queue.depth()
                    if backlog is not None:
                        with tally.lock:
                            tally.backlog.append((time.time(), backlog))
                self._write(self.line(clock, tally, backlog, label))

        self._thread = threading.Thread(target=loop, name="sim-progress", daemon=True)
        self._thread.start()

    def line(self, clock: SimClock, tally: Tally, backlog: int | None, label: str = "") -> str:
        done = clock.progress()
        bar = "█" * round(done * WIDTH) + "░" * (WIDTH - round(done * WIDTH))
        funnel = tally.order_funnel()
        sent = tally.events
        lag = "lag ?"
        if backlog is not None:
            self._rates.append((time.time(), sent - backlog))
            self._rates = self._rates[-20:]
            (t0, p0), (t1, p1) = self._rates[0], self._rates[-1]
            rate = (p1 - p0) / (t1 - t0) if t1 > t0 else 0.0
            lag = f"lag {backlog} msgs" + (f" ≈{backlog / rate:.0f} s" if rate > 0 and backlog else "")
        clock_text = china_clock(min(clock.sim_ms(), clock.sim_end_ms))
        return (f"{label}[{bar}] {done:4.0%} {clock_text} · {sent:,} events · orders {funnel['placed']} placed "
                f"{funnel['completed']} done · {lag}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
