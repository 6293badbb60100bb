"""Withdrawals, their Idempotency-Keys and the WeChat Pay callbacks already applied."""

from __future__ import annotations

import hashlib

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo import keys, txn
from chalicelib.adapters.dynamo.ledger import add_transfer, transfer_failure
from chalicelib.adapters.dynamo.models import (
    CommunityWithdrawalItem,
    HubItem,
    IdempotencyItem,
    NotificationSeenItem,
    WithdrawalItem,
)
from chalicelib.adapters.dynamo.paging import decode_cursor, encode_cursor
from chalicelib.domain.errors import InsufficientBalance
from chalicelib.domain.ledger import Transfer
from chalicelib.domain.withdrawals import Withdrawal, WithdrawalStatus
from chalicelib.ports import IdempotencyReused, Page, TransferBill

IDEMPOTENCY_TTL_S = 7 * 24 * 3600
NOTIFICATION_TTL_S = 30 * 24 * 3600
OPEN = [WithdrawalStatus.PROCESSING.value, WithdrawalStatus.WAIT_USER_CONFIRM.value]


def _shard(withdrawal_id: str) -> int:
    return hashlib.sha256(withdrawal_id.encode()).digest()[0] % keys.OPEN_WITHDRAWAL_SHARDS


def to_withdrawal(item: WithdrawalItem) -> Withdrawal:
    return Withdrawal(
        withdrawal_id=item.withdrawal_id, resident_id=item.resident_id, openid=item.openid,
        amount_fen=int(item.amount_fen), status=WithdrawalStatus(item.status), out_bill_no=item.out_bill_no,
        created_at_ms=int(item.created_at_ms), updated_at_ms=int(item.updated_at_ms),
        package_info=item.package_info, transfer_bill_no=item.transfer_bill_no, fail_reason=item.fail_reason,
        community_id=item.community_id)


def _sort_key(withdrawal: Withdrawal) -> str:
    """The sort key of every list a withdrawal is in (the resident's, the open ones, its community's)."""
    return f"{withdrawal.created_at_ms:013d}#{withdrawal.withdrawal_id}"


def _community_link(withdrawal: Withdrawal) -> CommunityWithdrawalItem | None:
    if withdrawal.community_id is None:
        return None
    return CommunityWithdrawalItem(keys.open_withdrawals_in(withdrawal.community_id), _sort_key(withdrawal),
                                   withdrawal_id=withdrawal.withdrawal_id)


class DynamoWithdrawals:
    def start(self, withdrawal: Withdrawal, transfer: Transfer, idempotency: tuple[str, str] | None) -> None:
        pk, sk = keys.withdrawal(withdrawal.withdrawal_id)
        sort = _sort_key(withdrawal)
        item = WithdrawalItem(
            pk, sk, withdrawal_id=withdrawal.withdrawal_id, resident_id=withdrawal.resident_id,
            openid=withdrawal.openid, amount_fen=withdrawal.amount_fen, status=withdrawal.status.value,
            out_bill_no=withdrawal.out_bill_no, created_at_ms=withdrawal.created_at_ms,
            updated_at_ms=withdrawal.updated_at_ms, gsi1pk=keys.withdrawals_of(withdrawal.resident_id),
            gsi1sk=sort, gsi2pk=keys.open_withdrawals(_shard(withdrawal.withdrawal_id)), gsi2sk=sort,
            community_id=withdrawal.community_id)
        link = _community_link(withdrawal)
        idem_pk = None
        tw = txn.write()
        try:
            with tw:
                tw.save(item, condition=HubItem.pk.does_not_exist())
                if link is not None:
                    tw.save(link)
                add_transfer(tw, transfer)
                if idempotency is not None:
                    key, request_hash = idempotency
                    idem_pk, idem_sk = keys.idempotency(withdrawal.resident_id, key)
                    tw.save(IdempotencyItem(idem_pk, idem_sk, request_hash=request_hash,
                                            resource_id=withdrawal.withdrawal_id,
                                            expires_at=withdrawal.created_at_ms // 1000 + IDEMPOTENCY_TTL_S),
                            condition=HubItem.pk.does_not_exist())
        except TransactWriteError as exc:
            if idem_pk is not None and idem_pk in txn.failed_keys(tw, exc):
                assert idempotency is not None
                raise self._reused(withdrawal.resident_id, idempotency[0]) from exc
            if transfer_failure(tw, exc, transfer) == "insufficient":
                raise InsufficientBalance(f"the wallet holds less than {withdrawal.amount_fen} fen") from exc
            raise

    @staticmethod
    def _reused(resident_id: str, key: str) -> IdempotencyReused:
        pk, sk = keys.idempotency(resident_id, key)
        item = IdempotencyItem.get(pk, sk, consistent_read=True)
        return IdempotencyReused(item.request_hash, item.resource_id)

    def get(self, withdrawal_id: str) -> Withdrawal | None:
        pk, sk = keys.withdrawal(withdrawal_id)
        try:
            return to_withdrawal(WithdrawalItem.get(pk, sk, consistent_read=True))
        except WithdrawalItem.DoesNotExist:
            return None

    def record_bill(self, withdrawal_id: str, bill: TransferBill, now_ms: int) -> Withdrawal | None:
        pk, sk = keys.withdrawal(withdrawal_id)
        item = WithdrawalItem(pk, sk)
        actions: list[Action] = [WithdrawalItem.status.set(WithdrawalStatus.WAIT_USER_CONFIRM.value),
                                 WithdrawalItem.updated_at_ms.set(now_ms)]
        if bill.package_info:
            actions.append(WithdrawalItem.package_info.set(bill.package_info))
        if bill.transfer_bill_no:
            actions.append(WithdrawalItem.transfer_bill_no.set(bill.transfer_bill_no))
        try:
            item.update(actions=actions, condition=WithdrawalItem.status.is_in(*OPEN))
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return to_withdrawal(item)

    def finish(self, withdrawal: Withdrawal, transfer: Transfer, notification_id: str | None) -> bool:
        pk, sk = keys.withdrawal(withdrawal.withdrawal_id)
        note_pk = None
        tw = txn.write()
        try:
            with tw:
                tw.update(WithdrawalItem(pk, sk),
                          actions=[WithdrawalItem.status.set(withdrawal.status.value),
                                   WithdrawalItem.updated_at_ms.set(withdrawal.updated_at_ms),
                                   WithdrawalItem.fail_reason.set(withdrawal.fail_reason)
                                   if withdrawal.fail_reason else WithdrawalItem.fail_reason.remove(),
                                   WithdrawalItem.gsi2pk.remove(), WithdrawalItem.gsi2sk.remove()],
                          condition=WithdrawalItem.status.is_in(*OPEN))
                add_transfer(tw, transfer)
                link = _community_link(withdrawal)
                if link is not None:
                    tw.delete(link)
                if notification_id is not None:
                    note_pk, note_sk = keys.pay_notification(notification_id)
                    tw.save(NotificationSeenItem(note_pk, note_sk, received_at_ms=withdrawal.updated_at_ms,
                                                 expires_at=withdrawal.updated_at_ms // 1000 + NOTIFICATION_TTL_S),
                            condition=HubItem.pk.does_not_exist())
        except TransactWriteError as exc:
            failed = txn.failed_keys(tw, exc)
            if pk in failed or (note_pk is not None and note_pk in failed) \
                    or transfer_failure(tw, exc, transfer) == "duplicate":
                return False
            raise
        return True

    def list_for_resident(self, resident_id: str, limit: int, cursor: str | None) -> Page[Withdrawal]:
        partition = keys.withdrawals_of(resident_id)
        result = HubItem.by_gsi1.query(partition, scan_index_forward=False, limit=limit,
                                       last_evaluated_key=decode_cursor(cursor, "gsi1pk", partition))
        items = [to_withdrawal(item) for item in result if isinstance(item, WithdrawalItem)]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))

    def list_open(self, created_before_ms: int, limit: int) -> list[Withdrawal]:
        """The oldest open withdrawals across every shard (each shard read oldest first, then merged)."""
        found: list[Withdrawal] = []
        for shard in range(keys.OPEN_WITHDRAWAL_SHARDS):
            for item in HubItem.by_gsi2.query(keys.open_withdrawals(shard),
                                              HubItem.gsi2sk < f"{created_before_ms:013d}", limit=limit):
                if isinstance(item, WithdrawalItem):
                    found.append(to_withdrawal(item))
        return sorted(found, key=lambda w: (w.created_at_ms, w.withdrawal_id))[:limit]

    def list_open_in_community(self, community_id: str, limit: int, cursor: str | None) -> Page[Withdrawal]:
        partition = keys.open_withdrawals_in(community_id)
        result = CommunityWithdrawalItem.query(partition, scan_index_forward=False, limit=limit,
                                               last_evaluated_key=decode_cursor(cursor, "pk", partition))
        wanted = [link.withdrawal_id for link in result]
        found: dict[str, Withdrawal] = {}
        if wanted:
            for item in WithdrawalItem.batch_get([keys.withdrawal(wid) for wid in wanted]):
                found[item.withdrawal_id] = to_withdrawal(item)
        # the link goes in the transaction that ends the withdrawal; one that ended between the reads is left out
        items = [found[wid] for wid in wanted if wid in found and found[wid].status.is_open]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))
