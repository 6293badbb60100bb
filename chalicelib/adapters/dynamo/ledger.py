"""The ledger in the hub table: per account one balance item and its entries, in one partition.

A transfer is written as five items inside the caller's transaction: the transfer (keyed by the
business event, written only if absent: the idempotency key), one entry per account, and one balance
update per account (debits of accounts that may not go negative carry ``balance >= amount``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo import keys, txn
from chalicelib.adapters.dynamo.models import BalanceItem, EntryItem, HubItem, TransferItem
from chalicelib.adapters.dynamo.paging import decode_cursor, encode_cursor
from chalicelib.domain.errors import InsufficientBalance
from chalicelib.domain.ledger import Account, Entry, Transfer, TransferKind
from chalicelib.ports import Page


def add_transfer(tw: TransactWrite, transfer: Transfer) -> None:
    """Append ``transfer`` to an open transaction (11 more items would exceed nothing: limit is 100)."""
    tpk, tsk = keys.transfer(transfer.transfer_id)
    tw.save(TransferItem(tpk, tsk, kind=transfer.kind.value, debit=transfer.debit.id,
                         credit=transfer.credit.id, amount_fen=transfer.amount_fen, at_ms=transfer.at_ms,
                         memo=dict(transfer.memo) or None),
            condition=HubItem.pk.does_not_exist())
    for entry, counterparty in zip(transfer.entries(), (transfer.credit, transfer.debit), strict=True):
        pk = keys.account(entry.account.id)
        tw.save(EntryItem(pk, keys.entry_sk(entry.at_ms, entry.transfer_id), account_id=entry.account.id,
                          transfer_id=entry.transfer_id, kind=entry.kind.value, amount_fen=entry.amount_fen,
                          at_ms=entry.at_ms, counterparty=counterparty.id, memo=dict(entry.memo) or None))
        condition = None
        if entry.amount_fen < 0 and not entry.account.may_go_negative:
            condition = BalanceItem.balance_fen >= -entry.amount_fen
        tw.update(BalanceItem(pk, keys.BALANCE_SK),
                  actions=[BalanceItem.balance_fen.add(entry.amount_fen), BalanceItem.version.add(1),
                           BalanceItem.account_id.set(entry.account.id), BalanceItem.type.set(BalanceItem)],
                  condition=condition)


def transfer_failure(tw: TransactWrite, exc: TransactWriteError, transfer: Transfer) -> str | None:
    """``"duplicate"`` (the event already moved money), ``"insufficient"``, or None (something else)."""
    failed = txn.failed_keys(tw, exc)
    if keys.transfer(transfer.transfer_id)[0] in failed:
        return "duplicate"
    if keys.account(transfer.debit.id) in failed:
        return "insufficient"
    return None


def to_entry(item: EntryItem) -> Entry:
    return Entry(account=Account.parse(item.account_id), transfer_id=item.transfer_id,
                 kind=TransferKind(item.kind), amount_fen=int(item.amount_fen), at_ms=int(item.at_ms),
                 memo=dict(item.memo or {}) | {"counterparty": item.counterparty})


class DynamoLedger:
    def transfer(self, transfer: Transfer) -> bool:
        """Move money on its own; False when this business event already did (nothing written)."""
        tw = txn.write()
        try:
            with tw:
                add_transfer(tw, transfer)
        except TransactWriteError as exc:
            failure = transfer_failure(tw, exc, transfer)
            if failure == "duplicate":
                return False
            if failure == "insufficient":
                raise InsufficientBalance(f"{transfer.debit.id} holds less than {transfer.amount_fen} fen") from exc
            raise
        return True

    def balances(self, accounts: Sequence[Account]) -> dict[Account, tuple[int, int]]:
        """Balance and version per account (0, 0 for an account that never moved) — one read."""
        found = {a: (0, 0) for a in accounts}
        by_id = {a.id: a for a in accounts}
        wanted = [(keys.account(a.id), keys.BALANCE_SK) for a in accounts]
        for item in BalanceItem.batch_get(wanted, consistent_read=True):
            found[by_id[item.account_id]] = (int(item.balance_fen), int(item.version))
        return found

    def entries(self, account: Account, limit: int, cursor: str | None) -> Page[Entry]:
        """Newest first."""
        pk = keys.account(account.id)
        result = EntryItem.query(pk, EntryItem.sk.startswith(keys.ENTRY_SK_PREFIX), scan_index_forward=False,
                                 limit=limit, last_evaluated_key=decode_cursor(cursor, "pk", pk))
        items = [to_entry(item) for item in result]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))

    def snapshot(self, account: Account) -> tuple[int, list[Entry]]:
        """The balance and every entry of one account, read together from its partition."""
        balance = 0
        entries = []
        for item in HubItem.query(keys.account(account.id), consistent_read=True):
            if isinstance(item, BalanceItem):
                balance = int(item.balance_fen)
            elif isinstance(item, EntryItem):
                entries.append(to_entry(item))
        return balance, entries

    def accounts(self) -> Iterator[Account]:
        """Every account that ever moved (a scan: for the reconciliation job, not for requests)."""
        for item in BalanceItem.scan():
            yield Account.parse(item.account_id)

    def transfer_exists(self, transfer_id: str) -> bool:
        pk, sk = keys.transfer(transfer_id)
        try:
            TransferItem.get(pk, sk, consistent_read=True, attributes_to_get=["pk"])
        except TransferItem.DoesNotExist:
            return False
        return True
