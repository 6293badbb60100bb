"""The simulator's diary: things to do at simulated moments, done when the wall clock gets there.

Device messages are sent on the diary's own thread (publishing is quick); anything that talks HTTP runs
on a small pool so a slow answer from the hub never holds back the devices.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from localcloud.simulator.clock import SimClock

log = logging.getLogger("localcloud.simulator")
Task = Callable[[], None]


class Agenda:
    def __init__(self, clock: SimClock, http_workers: int = 4) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, bool, Task]] = []
        self._seq = itertools.count()
        self._changed = threading.Condition()
        self._pool = ThreadPoolExecutor(http_workers, thread_name_prefix="sim-http")
        self._busy = 0
        self._busy_lock = threading.Lock()
        self.failures: list[str] = []

    def at(self, sim_ms: int, task: Task, inline: bool = False) -> None:
        """Do ``task`` at simulated ``sim_ms`` (now, if that has passed)."""
        with self._changed:
            heapq.heappush(self._heap, (self.clock.real_at(sim_ms), next(self._seq), inline, task))
            self._changed.notify()

    def after(self, sim_delay_ms: int, task: Task, inline: bool = False) -> None:
        self.at(self.clock.sim_ms() + sim_delay_ms, task, inline)

    def pending(self, until_real: float | None = None) -> int:
        """Things still to do (due by ``until_real``, when given), including those running now."""
        with self._changed:
            waiting = sum(1 for real, *_ in self._heap if until_real is None or real <= until_real)
        with self._busy_lock:
            return waiting + self._busy

    def run(self, stop: threading.Event) -> None:
        """Work through the diary until ``stop`` is set."""
        while not stop.is_set():
            with self._changed:
                if not self._heap:
                    self._changed.wait(0.2)
                    continue
                due, _, inline, task = self._heap[0]
                delay = due - time.time()
                if delay > 0:
                    self._changed.wait(min(delay, 0.2))
                    continue
                heapq.heappop(self._heap)
            if inline:
                self._do(task)
            else:
                with self._busy_lock:
                    self._busy += 1
                self._pool.submit(self._background, task)

    def _background(self, task: Task) -> None:
        try:
            self._do(task)
        finally:
            with self._busy_lock:
                self._busy -= 1

    def _do(self, task: Task) -> None:
        try:
            task()
        except Exception as exc:  # one resident's failed tap must not stop the community's day
            log.debug("agenda task failed", exc_info=True)
            if len(self.failures) < 50:
                self.failures.append(f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        with self._changed:
            self._heap.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
