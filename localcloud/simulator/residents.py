"""Residents in the mini-program: log in through the WeChat sandbox, bind a phone, order and pay,
withdraw and confirm, arm and disarm the home."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from localcloud.simulator.hub_client import HubClient, HubError
from localcloud.simulator.tally import OrderTrack, Tally, WithdrawalTrack
from localcloud.simulator.town import Household

MIN_WITHDRAWAL_FEN = 10  # WeChat's floor for a merchant transfer: 0.10 CNY


@dataclass
class Residents:
    hub: HubClient
    community_id: str
    phone_prefix: str  # seven digits; a household's phone ends in its four-digit index
    tally: Tally
    run_tag: str
    tokens: dict[int, str] = field(default_factory=dict)
    bound: set[int] = field(default_factory=set)
    housed: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def phone(self, household: int) -> str:
        return f"{self.phone_prefix}{household:04d}"

    def token(self, home: Household) -> str:
        """The resident's session, logging in through the WeChat sandbox the first time."""
        with self.lock:
            known = self.tokens.get(home.index)
        if known:
            return known
        login = self.hub.call("POST", "/v1/auth/wechat", {"code": f"sandbox-sim-{self.run_tag}-{home.index}"},
                              token="")
        with self.lock:
            self.tokens[home.index] = str(login["token"])
        with self.tally.lock:
            self.tally.logins += 1
        return str(login["token"])

    def bind_phone(self, home: Household) -> None:
        if home.index in self.bound:
            return
        try:
            self.hub.call("POST", "/v1/me/phone", {"code": f"sandbox-phone-{self.phone(home.index)}"},
                          token=self.token(home))
        except HubError as exc:
            if exc.status != 409:  # bound elsewhere already (another run drew the same number): not ours
                raise
            self.tally.problem(f"phone of household {home.index} is bound by someone else")
            return
        with self.lock:
            self.bound.add(home.index)
        with self.tally.lock:
            self.tally.phones_bound += 1

    def move_in(self, home: Household) -> str:
        """Set the residence (needed to order and to arm the home); returns the token."""
        token = self.token(home)
        if home.index not in self.housed:
            self.hub.call("PUT", "/v1/me/residence", {"community_id": self.community_id, "building": home.building,
                                                       "room": home.room}, token=token)
            with self.lock:
                self.housed.add(home.index)
        return token

    def set_security(self, home: Household, mode: str) -> None:
        self.hub.call("PUT", "/v1/me/home/security", {"mode": mode}, token=self.move_in(home))

    def order(self, home: Household, service_id: str, note: str | None) -> tuple[OrderTrack, dict[str, Any]]:
        """Place an order; returns it and the parameters the mini-program hands to ``wx.requestPayment``."""
        token = self.move_in(home)
        body = {"service_id": service_id} | ({"note": note} if note else {})
        placed = self.hub.call("POST", "/v1/orders", body, token=token,
                               headers={"Idempotency-Key": uuid.uuid4().hex})
        track = OrderTrack(order_id=str(placed["order_id"]), household=home.index, service_id=service_id,
                           amount_fen=int(placed["amount_fen"]), token=token,
                           out_trade_no=str((placed.get("payment") or {}).get("out_trade_no", "")))
        with self.tally.lock:
            self.tally.orders[track.order_id] = track
        return track, dict((placed.get("payment") or {}).get("request_payment") or {})

    def pay(self, track: OrderTrack, request_payment: dict[str, Any]) -> None:
        """What ``wx.requestPayment`` does in the mini-program: the sandbox checks paySign, WeChat Pay
        then calls the hub back with the signed payment notice."""
        self.hub.sandbox_call("POST", "/_sandbox/wechat/request-payment", request_payment)
        with self.tally.lock:
            track.paid_at = time.time()

    def cancel(self, track: OrderTrack) -> None:
        self.hub.call("POST", f"/v1/orders/{track.order_id}/cancel", {}, token=track.token)
        with self.tally.lock:
            track.cancelled = True

    def withdraw(self, home: Household, confirms: bool) -> WithdrawalTrack | None:
        """Withdraw the whole balance (None when there is less than 0.10 CNY yet)."""
        token = self.token(home)
        balance = int(self.hub.call("GET", "/v1/wallet", token=token)["balance_fen"])
        if balance < MIN_WITHDRAWAL_FEN:
            return None
        made = self.hub.call("POST", "/v1/wallet/withdrawals", {"amount_fen": balance}, token=token,
                             headers={"Idempotency-Key": uuid.uuid4().hex})
        track = WithdrawalTrack(str(made["withdrawal_id"]), str(made["out_bill_no"]), balance, confirms, token)
        with self.tally.lock:
            self.tally.withdrawals.append(track)
        return track

    def answer_transfer(self, track: WithdrawalTrack) -> None:
        """``wx.requestMerchantTransfer``: the resident confirms (or turns down) the transfer."""
        verb = "confirm" if track.confirms else "reject"
        self.hub.sandbox_call("POST", f"/_sandbox/wechat/transfers/{track.out_bill_no}/{verb}", {})
