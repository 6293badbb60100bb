"""A community's recycling day for staff: kilograms and fen credited per category.

Summed on the server from every weigh-in of the day (the gsi1 day partition, read in large pages), so a
busy day is one request for the console instead of one per page of the weigh-in list. O(weigh-ins of
the day), like the ledger check (decision 21); a day's counters written at credit time would make it
O(1) when that matters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.domain.device_messages import RECYCLING_CATEGORIES
from chalicelib.domain.recycling import WeighinRecord
from chalicelib.services import recycling
from chalicelib.services.deps import Deps

READ_PAGE = 500


@dataclass
class CategoryTotal:
    weighins: int = 0
    weight_g: int = 0
    credit_fen: int = 0

    def add(self, record: WeighinRecord) -> None:
        self.weighins += 1
        self.weight_g += record.weight_g
        self.credit_fen += record.credit_fen


@dataclass
class DaySummary:
    community_id: str
    day: str
    by_category: dict[str, CategoryTotal] = field(default_factory=dict)

    @property
    def total(self) -> CategoryTotal:
        parts = self.by_category.values()
        return CategoryTotal(weighins=sum(p.weighins for p in parts), weight_g=sum(p.weight_g for p in parts),
                             credit_fen=sum(p.credit_fen for p in parts))


def day_summary(deps: Deps, community_id: str, day: str) -> DaySummary:
    """``day`` is YYYYMMDD (BadInput otherwise, from the weigh-in list this reads)."""
    summary = DaySummary(community_id, day, {category: CategoryTotal() for category in RECYCLING_CATEGORIES})
    cursor: str | None = None
    while True:
        page = recycling.weighins_of_day(deps, community_id, day, READ_PAGE, cursor)
        for record in page.items:
            summary.by_category.setdefault(record.category, CategoryTotal()).add(record)
        cursor = page.next_cursor
        if cursor is None:
            return summary
