"""Provider callbacks: verify first, then hand the event to whoever it concerns."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.services import order_payments, withdrawals
from chalicelib.services.deps import Deps


def wechatpay(deps: Deps, headers: Mapping[str, str], body: bytes) -> str:
    """Transfer bills (MCHTRANSFER.*) are withdrawals; TRANSACTION.* and REFUND.* are orders."""
    notice = deps.wechatpay.verify_notification(headers, body, deps.clock.now_ms() // 1000)
    if notice.event_type.startswith(("TRANSACTION.", "REFUND.")):
        return order_payments.wechat_notice(deps, notice)
    return withdrawals.apply_notice(deps, notice)


def stripe(deps: Deps, signature: str | None, body: bytes) -> str:
    return order_payments.stripe_event(deps, deps.card_payments.verify_webhook(body, signature))
