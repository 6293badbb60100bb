"""The system clock and id generator."""

from __future__ import annotations

import os
import time


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class TimeOrderedIds:
    """``{prefix}_{12 hex ms}{10 hex random}``: sortable by creation time, unguessable enough to share."""

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{time.time_ns() // 1_000_000:012x}{os.urandom(5).hex()}"
