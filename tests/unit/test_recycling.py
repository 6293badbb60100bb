"""What a weigh-in is worth: floor rounding, limits, prices, the daily cap, settings."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.device_messages import Weighin
from chalicelib.domain.errors import BadInput
from chalicelib.domain.recycling import (
    CommunitySettings,
    CommunityTerms,
    china_day,
    credit_fen,
    parse_prices,
    value_weighin,
)
from chalicelib.domain.rejects import Rejected, RejectReason

TERMS = CommunityTerms(prices={"paper": 80, "metal": 200}, settings=CommunitySettings())


def drop(weight_g: int, category: str = "paper") -> Weighin:
    return Weighin(category=category, weight_g=weight_g, phone="13800138000")


def test_the_seed_scenario_2_35_kg_of_cardboard_is_188_fen() -> None:
    assert value_weighin(drop(2350), TERMS, 0).credit_fen == 188


@given(st.integers(1, 200_000), st.integers(0, 100_000))
def test_credit_is_the_floor_of_weight_times_price(weight_g: int, price: int) -> None:
    credit = credit_fen(weight_g, price)
    assert credit * 1000 <= weight_g * price < (credit + 1) * 1000


def test_the_per_drop_limit_is_inclusive() -> None:
    assert value_weighin(drop(30_000), TERMS, 0).credit_fen == 2400
    with pytest.raises(Rejected) as refused:
        value_weighin(drop(30_001), TERMS, 0)
    assert refused.value.reason is RejectReason.IMPLAUSIBLE_VALUE


def test_a_category_without_a_price_is_refused() -> None:
    with pytest.raises(Rejected) as refused:
        value_weighin(drop(1000, "textile"), TERMS, 0)
    assert refused.value.reason is RejectReason.NO_PRICE


def test_the_daily_cap_allows_exactly_the_cap_and_refuses_one_fen_more() -> None:
    assert value_weighin(drop(2500), TERMS, 4800).credit_fen == 200  # 5000: the cap itself
    with pytest.raises(Rejected) as refused:
        value_weighin(drop(2500), TERMS, 4801)
    assert refused.value.reason is RejectReason.OVER_DAILY_CAP
    assert "5000" in refused.value.detail


def test_the_cap_day_is_chinas_calendar_day() -> None:
    assert china_day(1_767_225_600_000 - 8 * 3600 * 1000) == "20260101"  # 2025-12-31T16:00Z is midnight
    assert china_day(1_767_225_600_000 - 8 * 3600 * 1000 - 1) == "20251231"


@pytest.mark.parametrize("raw", [{"paper": "80"}, {"paper": 80.0}, {"paper": True}, {"glass": 1}, {"paper": -1},
                                 {"paper": 100_001}, {}, [], None])
def test_bad_prices_are_bad_input(raw: Any) -> None:
    with pytest.raises(BadInput):
        parse_prices(raw)


def test_settings_change_only_the_keys_named_and_check_each() -> None:
    changed = CommunitySettings().changed({"daily_cap_fen": 100})
    assert changed.daily_cap_fen == 100 and changed.max_drop_g == 30_000
    for bad in ({"daily_cap_fen": "100"}, {"daily_cap_fen": -1}, {"nope": 1}, {}, {"max_drop_g": True}):
        with pytest.raises(BadInput):
            CommunitySettings().changed(bad)
