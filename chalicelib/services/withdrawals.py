"""Withdrawals: wallet → WeChat balance through a transfer bill the resident confirms.

Money moves wallet → in flight *before* the bill is created (so two concurrent requests cannot spend
the same fen), and in flight → paid out or back to the wallet when WeChat says how the bill ended —
by callback, by the answer to a query, or by the expiry job. Each ending is conditional on the
withdrawal still being open, so whichever path arrives first wins and the others change nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from chalicelib.domain import ledger
from chalicelib.domain.errors import (
    BadInput,
    CallbackRejected,
    Conflict,
    NotFound,
    PayoutAmbiguous,
    PayoutRefused,
    UpstreamUnavailable,
)
from chalicelib.domain.identity import Principal
from chalicelib.domain.withdrawals import (
    CONFIRM_WINDOW_MS,
    TRANSFER_REMARK,
    Withdrawal,
    WithdrawalStatus,
    out_bill_no,
    parse_amount,
)
from chalicelib.ports import BillState, IdempotencyReused, Page, PayNotification, TransferBill
from chalicelib.services.deps import Deps
from chalicelib.services.identity import current_resident

MAX_IDEMPOTENCY_KEY = 255
BILL_FINISHED = "MCHTRANSFER.BILL.FINISHED"
#: a withdrawal still processing this long after it started never reached WeChat (or will not now)
STUCK_AFTER_MS = 10 * 60 * 1000

ENDINGS: dict[BillState, WithdrawalStatus] = {
    BillState.SUCCESS: WithdrawalStatus.SUCCEEDED,
    BillState.FAIL: WithdrawalStatus.FAILED,
    BillState.CANCELLED: WithdrawalStatus.CANCELLED,
}


def request_withdrawal(deps: Deps, principal: Principal, body: Mapping[str, object],
                       idempotency_key: str | None) -> Withdrawal:
    amount = parse_amount(body.get("amount_fen"))
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise BadInput(f"Idempotency-Key must be 1–{MAX_IDEMPOTENCY_KEY} characters", code="invalid_idempotency_key")
    resident = current_resident(deps, principal)
    request_hash = hashlib.sha256(json.dumps({"amount_fen": amount}, sort_keys=True).encode()).hexdigest()
    now = deps.clock.now_ms()
    wid = deps.ids.new_id("wd")
    withdrawal = Withdrawal(withdrawal_id=wid, resident_id=resident.resident_id, openid=resident.openid,
                            amount_fen=amount, status=WithdrawalStatus.PROCESSING, out_bill_no=out_bill_no(wid),
                            created_at_ms=now, updated_at_ms=now, community_id=resident.community_id)
    start = ledger.Transfer.for_event(ledger.TransferKind.PAYOUT_START, wid, ledger.wallet(resident.resident_id),
                                      ledger.in_flight(resident.resident_id), amount, now,
                                      memo={"withdrawal_id": wid})
    try:
        deps.withdrawals.start(withdrawal, start, (idempotency_key, request_hash) if idempotency_key else None)
    except IdempotencyReused as reused:
        if reused.request_hash != request_hash:
            raise Conflict("this Idempotency-Key was used with a different body",
                           code="idempotency_key_reused") from reused
        earlier = deps.withdrawals.get(reused.resource_id)
        if earlier is None:
            raise
        return create_bill(deps, earlier) if earlier.status is WithdrawalStatus.PROCESSING else earlier
    return create_bill(deps, withdrawal)


def create_bill(deps: Deps, withdrawal: Withdrawal) -> Withdrawal:
    """Create the WeChat bill for a processing withdrawal; an ambiguous answer is resolved by query."""
    try:
        bill = deps.wechatpay.create_transfer_bill(withdrawal.out_bill_no, withdrawal.openid,
                                                   withdrawal.amount_fen, TRANSFER_REMARK)
    except PayoutRefused as refused:
        end(deps, withdrawal, WithdrawalStatus.FAILED, refused.message[:200], None)
        raise
    except PayoutAmbiguous:
        bill = _resolve_ambiguous(deps, withdrawal)
    return apply_bill(deps, withdrawal, bill, None)


def _resolve_ambiguous(deps: Deps, withdrawal: Withdrawal) -> TransferBill:
    """Ask WeChat what became of the bill. If it ended, that is the answer. If it does not exist, or
    waits for the resident (a query answer carries no package_info), the create is sent again with the
    same out_bill_no: WeChat deduplicates by it, so this returns the one bill, never a second."""
    bill = deps.wechatpay.query_transfer_bill(withdrawal.out_bill_no)
    if bill is not None and (bill.state in ENDINGS or bill.package_info):
        return bill
    return deps.wechatpay.create_transfer_bill(withdrawal.out_bill_no, withdrawal.openid,
                                               withdrawal.amount_fen, TRANSFER_REMARK)


def apply_bill(deps: Deps, withdrawal: Withdrawal, bill: TransferBill, notification_id: str | None) -> Withdrawal:
    """Bring the withdrawal in line with what WeChat says of its bill."""
    if bill.amount_fen != withdrawal.amount_fen:
        raise CallbackRejected(f"bill {bill.out_bill_no} is for {bill.amount_fen} fen, "
                               f"the withdrawal for {withdrawal.amount_fen}")
    ending = ENDINGS.get(bill.state)
    changed: Withdrawal | None = None
    if ending is not None:
        changed = end(deps, withdrawal, ending, bill.fail_reason, notification_id)
    elif bill.package_info and withdrawal.status is WithdrawalStatus.PROCESSING:
        changed = deps.withdrawals.record_bill(withdrawal.withdrawal_id, bill, deps.clock.now_ms())
    if changed is not None:
        return changed
    # nothing changed here (it ended meanwhile, or there was nothing to record): what is stored now
    return deps.withdrawals.get(withdrawal.withdrawal_id) or withdrawal


def end(deps: Deps, withdrawal: Withdrawal, status: WithdrawalStatus, fail_reason: str | None,
        notification_id: str | None) -> Withdrawal | None:
    """Settle (succeeded) or return (failed, cancelled) the money of an open withdrawal, once: the ended
    withdrawal, or None when it had ended already (nothing was written)."""
    now = deps.clock.now_ms()
    rid, wid = withdrawal.resident_id, withdrawal.withdrawal_id
    if status is WithdrawalStatus.SUCCEEDED:
        move = ledger.Transfer.for_event(ledger.TransferKind.PAYOUT_SETTLE, wid, ledger.in_flight(rid),
                                         ledger.paid_out(wid), withdrawal.amount_fen, now, memo={"withdrawal_id": wid})
    else:
        move = ledger.Transfer.for_event(ledger.TransferKind.PAYOUT_RETURN, wid, ledger.in_flight(rid),
                                         ledger.wallet(rid), withdrawal.amount_fen, now,
                                         memo={"withdrawal_id": wid, "status": status.value})
    ended = withdrawal.ended(status, now, fail_reason)
    return ended if deps.withdrawals.finish(ended, move, notification_id) else None


def withdrawal_of(deps: Deps, principal: Principal, withdrawal_id: str) -> Withdrawal:
    """A resident sees only their own withdrawals; another's is as unknown as a missing one."""
    withdrawal = deps.withdrawals.get(withdrawal_id) if len(withdrawal_id) <= 64 else None
    if withdrawal is None or withdrawal.resident_id != principal.subject:
        raise NotFound("no such withdrawal", code="withdrawal_not_found")
    return withdrawal


def withdrawals_of(deps: Deps, principal: Principal, limit: int, cursor: str | None) -> Page[Withdrawal]:
    return deps.withdrawals.list_for_resident(principal.subject, limit, cursor)


def open_in_community(deps: Deps, community_id: str, status: str | None, limit: int,
                      cursor: str | None) -> Page[Withdrawal]:
    """Staff's view: the open withdrawals of residents who lived in the community when they asked,
    newest first; ``status`` narrows them to ``processing`` or ``wait_user_confirm``."""
    wanted = {w for w in WithdrawalStatus if w.is_open}
    if status is not None:
        if status not in {w.value for w in wanted}:
            raise BadInput("status is processing or wait_user_confirm (only open withdrawals are listed)",
                           code="invalid_status")
        wanted = {WithdrawalStatus(status)}
    page = deps.withdrawals.list_open_in_community(community_id, limit, cursor)
    return Page(items=[w for w in page.items if w.status in wanted], next_cursor=page.next_cursor)


def handle_notification(deps: Deps, headers: Mapping[str, str], body: bytes) -> str:
    """A WeChat Pay callback: verified, then applied at most once. Returns what happened (for the log)."""
    return apply_notice(deps, deps.wechatpay.verify_notification(headers, body, deps.clock.now_ms() // 1000))


def apply_notice(deps: Deps, notice: PayNotification) -> str:
    """A verified transfer-bill notification, applied at most once."""
    if notice.event_type != BILL_FINISHED:
        return f"ignored {notice.event_type}"
    resource = notice.resource
    try:
        bill = TransferBill(out_bill_no=str(resource["out_bill_no"]), state=BillState(str(resource["state"])),
                            amount_fen=int(resource["transfer_amount"]),
                            transfer_bill_no=resource.get("transfer_bill_no"), fail_reason=resource.get("fail_reason"))
    except (KeyError, ValueError, TypeError) as exc:
        raise CallbackRejected(f"the bill in notification {notice.notification_id} is malformed") from exc
    withdrawal = deps.withdrawals.get(withdrawal_id_for(bill.out_bill_no))
    if withdrawal is None:
        return f"unknown bill {bill.out_bill_no}"
    if not withdrawal.status.is_open:
        return f"bill {bill.out_bill_no} already {withdrawal.status.value}"
    after = apply_bill(deps, withdrawal, bill, notice.notification_id)
    return f"bill {bill.out_bill_no} {bill.state.value} → {after.status.value}"


def withdrawal_id_for(bill_no: str) -> str:
    return "wd_" + bill_no.removeprefix("LLW")


def settle_open_withdrawals(deps: Deps, limit: int = 100) -> dict[str, int]:
    """The scheduled job: ask WeChat about bills stuck open; cancel those unconfirmed after 24 h."""
    now = deps.clock.now_ms()
    counts = {"checked": 0, "ended": 0, "cancelled": 0, "errors": 0}
    for withdrawal in deps.withdrawals.list_open(now - STUCK_AFTER_MS, limit):
        counts["checked"] += 1
        try:
            bill = deps.wechatpay.query_transfer_bill(withdrawal.out_bill_no)
            if bill is None:
                # WeChat never got the create: nothing can pay it out any more, so the money returns.
                counts["ended"] += end(deps, withdrawal, WithdrawalStatus.FAILED, "bill_not_created", None) is not None
                continue
            if bill.state not in ENDINGS and now - withdrawal.created_at_ms >= CONFIRM_WINDOW_MS \
                    and bill.state is BillState.WAIT_USER_CONFIRM:
                bill = deps.wechatpay.cancel_transfer_bill(withdrawal.out_bill_no)
                counts["cancelled"] += 1
            before = withdrawal.status
            after = apply_bill(deps, withdrawal, bill, None)
            counts["ended"] += int(before.is_open and not after.status.is_open)
        except (UpstreamUnavailable, PayoutRefused, CallbackRejected):
            counts["errors"] += 1
    return counts
