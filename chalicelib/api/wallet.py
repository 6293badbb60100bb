"""Resident money API: wallet, entries, weigh-ins, withdrawals; and WeChat Pay's callback."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import Ctx, route
from chalicelib.domain.identity import Role
from chalicelib.services import wallet, withdrawals

bp = Blueprint(__name__)
RESIDENT = (Role.RESIDENT,)


class WithdrawalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_fen: Any = None  # checked strictly by the domain: whole fen, no strings, no floats


@route(bp, "/v1/wallet", "GET", summary="The resident's wallet", auth=RESIDENT)
def get_wallet(ctx: Ctx) -> dict[str, Any]:
    view = wallet.wallet_of(bootstrap.deps(), ctx.caller)
    return {"balance_fen": view.balance_fen, "in_flight_fen": view.in_flight_fen, "currency": view.currency}


@route(bp, "/v1/wallet/entries", "GET", summary="Wallet entries, newest first", auth=RESIDENT,
       query=("limit", "cursor"))
def list_entries(ctx: Ctx) -> dict[str, Any]:
    page = wallet.entries_of(bootstrap.deps(), ctx.caller, ctx.limit(), ctx.query("cursor"))
    return views.page(page, views.entry)


@route(bp, "/v1/recycling/weighins", "GET", summary="The resident's weigh-ins, newest first", auth=RESIDENT,
       query=("limit", "cursor"))
def list_weighins(ctx: Ctx) -> dict[str, Any]:
    page = wallet.weighins_of(bootstrap.deps(), ctx.caller, ctx.limit(), ctx.query("cursor"))
    return views.page(page, views.weighin)


@route(bp, "/v1/wallet/withdrawals", "POST", summary="Withdraw to the WeChat balance (Idempotency-Key honoured)",
       auth=RESIDENT, body=WithdrawalRequest, status=201)
def create_withdrawal(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body(WithdrawalRequest)
    result = withdrawals.request_withdrawal(bootstrap.deps(), ctx.caller, {"amount_fen": body.amount_fen},
                                            ctx.request.headers.get("idempotency-key"))
    return views.withdrawal(result)


@route(bp, "/v1/wallet/withdrawals", "GET", summary="The resident's withdrawals, newest first", auth=RESIDENT,
       query=("limit", "cursor"))
def list_withdrawals(ctx: Ctx) -> dict[str, Any]:
    page = withdrawals.withdrawals_of(bootstrap.deps(), ctx.caller, ctx.limit(), ctx.query("cursor"))
    return views.page(page, views.withdrawal)


@route(bp, "/v1/wallet/withdrawals/{withdrawal_id}", "GET", summary="A withdrawal and its status", auth=RESIDENT)
def get_withdrawal(ctx: Ctx, withdrawal_id: str) -> dict[str, Any]:
    return views.withdrawal(withdrawals.withdrawal_of(bootstrap.deps(), ctx.caller, withdrawal_id))
