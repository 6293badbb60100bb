"""One contract for each money port, run against the in-memory fakes and the DynamoDB adapters (moto).

If a test here passes for both, a unit test that moves money through the fakes says something true about
production: the same transfers succeed, the same conditions fail, and a failure writes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import pytest
from moto import mock_aws

from chalicelib.adapters.dynamo import models
from chalicelib.adapters.dynamo.communities import DynamoCommunities
from chalicelib.adapters.dynamo.devices import DynamoDevices
from chalicelib.adapters.dynamo.ledger import DynamoLedger
from chalicelib.adapters.dynamo.models import HubItem, OutboxItem
from chalicelib.adapters.dynamo.recycling import DynamoRecyclingBook
from chalicelib.adapters.dynamo.residents import DynamoResidents
from chalicelib.adapters.dynamo.withdrawals import DynamoWithdrawals
from chalicelib.domain import ledger
from chalicelib.domain.device_messages import DeviceMessage, Weighin
from chalicelib.domain.devices import Device, DeviceStatus, DeviceType, LastEvent
from chalicelib.domain.errors import BadInput, InsufficientBalance
from chalicelib.domain.ledger import Account, Entry, Transfer, TransferKind
from chalicelib.domain.recycling import CommunitySettings, CommunityTerms, WeighinRecord, china_day, credit_fen
from chalicelib.domain.withdrawals import Withdrawal, WithdrawalStatus, out_bill_no
from chalicelib.ports import (
    BillState,
    Communities,
    DailyCap,
    Devices,
    IdempotencyReused,
    Ledger,
    OutboxEvent,
    Page,
    RecyclingBook,
    Resident,
    Residents,
    TransferBill,
    WeighinOutcome,
    Withdrawals,
)
from localcloud import moto_patches
from localcloud.resources import LocalResources, create_resources
from tests.support.fakes import NOW_MS, FakeClock, FakeCommunities, FakeDevices, FakeResidents
from tests.support.money_fakes import FakeLedger, make_money_fakes

T = TypeVar("T")
CID, OTHER = "c_sunny", "c_other"
BIN = "bin-0001"
ALICE, BOB = "r_alice", "r_bob"
ALICE_PHONE, BOB_PHONE, NOBODYS_PHONE = "pk-alice", "pk-bob", "pk-nobody"
CREDITED = "recycling.credited"
HOUR_MS = 3_600_000
REGION = "us-east-1"


@dataclass
class Backend:
    name: str
    ledger: Ledger
    recycling: RecyclingBook
    withdrawals: Withdrawals
    devices: Devices
    residents: Residents
    communities: Communities
    #: the domain events written with weigh-ins
    credited_events: Callable[[], list[OutboxEvent]]


def _dynamo_credited_events() -> list[OutboxEvent]:
    return sorted((OutboxEvent(type=item.event_type, community_id=item.community_id,
                               key=item.pk.split("#", 2)[2], data=item.data)
                   for item in OutboxItem.scan() if item.event_type == CREDITED), key=lambda e: e.key)


@pytest.fixture(scope="module")
def shared_moto() -> Iterator[LocalResources]:
    """One moto for the module: creating the template's resources takes ~0.4 s, emptying the two tables
    (``backend`` does, before each test) ~10 ms.

    The same AWS-free environment as conftest's ``aws_credentials`` (which is function-scoped).
    """
    with pytest.MonkeyPatch.context() as env:
        for name, value in {"AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled", "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                            "AWS_DEFAULT_REGION": REGION}.items():
            env.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL"):
            env.delenv(name, raising=False)
        # moto deep-copies every table a transaction names, stream history included: shared by the module,
        # the tables' streams would make each transaction slower than the last. The project's patch (same
        # effects, same errors: tests/integration/test_moto_patches.py) undoes only what a transaction touched.
        was_installed = moto_patches.installed()
        moto_patches.install()
        try:
            with mock_aws():
                resources = create_resources(None, REGION)
                # once: configuring drops the models' boto clients, and making them again costs ~0.1 s each
                models.configure(resources.environment["LINLI_HUB_TABLE"],
                                 resources.environment["LINLI_OUTBOX_TABLE"], REGION)
                yield resources
        finally:
            if not was_installed:
                moto_patches.uninstall()


def _empty_tables() -> None:
    for model in (HubItem, OutboxItem):
        with model.batch_write() as batch:
            for item in model.scan():
                batch.delete(item)


@pytest.fixture(params=["fake", "dynamo"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "fake":
        devices, residents, communities = FakeDevices(), FakeResidents(), FakeCommunities()
        money = make_money_fakes(devices, residents, communities)
        return Backend("fake", money.ledger, money.recycling, money.withdrawals, devices, residents, communities,
                       lambda: sorted(money.recycling.outbox, key=lambda e: e.key))
    request.getfixturevalue("shared_moto")
    _empty_tables()
    return Backend("dynamo", DynamoLedger(), DynamoRecyclingBook(dedupe_ttl_s=3600), DynamoWithdrawals(),
                   DynamoDevices(), DynamoResidents(FakeClock()), DynamoCommunities(), _dynamo_credited_events)


def collect(fetch: Callable[[str | None], Page[T]], max_pages: int = 50) -> tuple[list[T], int]:
    """Every item of a paged listing, and how many pages it took."""
    items: list[T] = []
    cursor: str | None = None
    for pages in range(1, max_pages + 1):
        page = fetch(cursor)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items, pages
    raise AssertionError("the listing never ended")


def bad_input_code(call: Callable[[], Any]) -> str:
    with pytest.raises(BadInput) as caught:
        call()
    return caught.value.code


# ------------------------------------------------------------------------------------------ ledger

EXPENSE = ledger.Account(ledger.AccountType.RECYCLING_EXPENSE, f"{CID}#0")
WALLET, OTHER_WALLET = ledger.wallet(ALICE), ledger.wallet(BOB)


def credit(key: str, amount: int, at_ms: int = NOW_MS, to: Account = WALLET, memo: dict[str, str] | None = None,
           debit: Account = EXPENSE) -> Transfer:
    return Transfer.for_event(TransferKind.RECYCLING_CREDIT, key, debit, to, amount, at_ms, memo)


def all_entries(backend: Backend, account: Account) -> list[Entry]:
    return collect(lambda cursor: backend.ledger.entries(account, 100, cursor))[0]


def state(backend: Backend, *accounts: Account) -> tuple[dict[Account, tuple[int, int]], list[list[Entry]]]:
    """Balances and every entry of these accounts: what "nothing changed" compares."""
    return backend.ledger.balances(list(accounts)), [all_entries(backend, a) for a in accounts]


#: every account these tests can move money through
UNIVERSE = [*ledger.recycling_expense_shards(CID), *ledger.recycling_expense_shards(OTHER),
            *(f(rid) for rid in (ALICE, BOB) for f in (ledger.wallet, ledger.in_flight)),
            *(ledger.pending(p) for p in ("pk-alice", "pk-bob", "pk-nobody")),
            *(ledger.Account(ledger.AccountType.PAID_OUT, str(n)) for n in range(ledger.PAID_OUT_SHARDS))]


def books_are_right(backend: Backend) -> None:
    """The reconciliation job's check over every account that moved (``balances`` of the accounts the
    tests use, in one read, rather than ``accounts()``: a scan is slower, and has a test of its own)."""
    balances: dict[Account, int] = {}
    entries: list[Entry] = []
    for account, (_, version) in backend.ledger.balances(UNIVERSE).items():
        if version > 0:
            balances[account], mine = backend.ledger.snapshot(account)
            entries += mine
    assert balances
    assert ledger.check_invariants(balances, entries, closed=True) == []
    assert sum(balances.values()) == 0


class TestLedgerContract:
    def test_a_transfer_moves_both_balances_and_writes_two_entries(self, backend: Backend) -> None:
        assert backend.ledger.transfer(credit("bin:e-1", 188, memo={"thing_name": BIN})) is True

        assert backend.ledger.balances([EXPENSE, WALLET, OTHER_WALLET]) == {
            EXPENSE: (-188, 1), WALLET: (188, 1), OTHER_WALLET: (0, 0)}
        tid = ledger.transfer_id(TransferKind.RECYCLING_CREDIT, "bin:e-1")
        to_wallet = Entry(WALLET, tid, TransferKind.RECYCLING_CREDIT, 188, NOW_MS,
                          {"thing_name": BIN, "counterparty": EXPENSE.id})
        from_expense = Entry(EXPENSE, tid, TransferKind.RECYCLING_CREDIT, -188, NOW_MS,
                             {"thing_name": BIN, "counterparty": WALLET.id})
        assert backend.ledger.entries(WALLET, 10, None) == Page(items=[to_wallet])
        assert backend.ledger.entries(EXPENSE, 10, None) == Page(items=[from_expense])
        assert backend.ledger.snapshot(WALLET) == (188, [to_wallet])
        assert backend.ledger.snapshot(OTHER_WALLET) == (0, [])
        books_are_right(backend)

    def test_accounts_are_every_account_that_moved(self, backend: Backend) -> None:
        backend.ledger.transfer(credit("e-1", 188))
        backend.ledger.transfer(credit("e-2", 12, to=OTHER_WALLET))
        with pytest.raises(InsufficientBalance):
            backend.ledger.transfer(credit("e-3", 1, debit=ledger.pending(NOBODYS_PHONE)))
        assert sorted(backend.ledger.accounts()) == sorted([EXPENSE, WALLET, OTHER_WALLET])

    def test_versions_count_the_transfers_of_each_account(self, backend: Backend) -> None:
        backend.ledger.transfer(credit("e-1", 100))
        backend.ledger.transfer(credit("e-2", 50, to=OTHER_WALLET))
        backend.ledger.transfer(Transfer.for_event(TransferKind.PAYOUT_START, "w-1", WALLET, ledger.in_flight(ALICE),
                                                   30, NOW_MS + 1))
        assert backend.ledger.balances([EXPENSE, WALLET, OTHER_WALLET, ledger.in_flight(ALICE)]) == {
            EXPENSE: (-150, 2), WALLET: (70, 2), OTHER_WALLET: (50, 1), ledger.in_flight(ALICE): (30, 1)}
        books_are_right(backend)

    def test_the_same_transfer_id_moves_money_once(self, backend: Backend) -> None:
        assert backend.ledger.transfer(credit("bin:e-1", 188)) is True
        before = state(backend, EXPENSE, WALLET, OTHER_WALLET)

        assert backend.ledger.transfer(credit("bin:e-1", 188)) is False
        # even with other amounts, time and payee: the business event already moved its money
        assert backend.ledger.transfer(credit("bin:e-1", 999, at_ms=NOW_MS + 5, to=OTHER_WALLET)) is False

        assert state(backend, EXPENSE, WALLET, OTHER_WALLET) == before

    def test_a_wallet_cannot_be_overdrawn_and_a_refused_transfer_writes_nothing(self, backend: Backend) -> None:
        backend.ledger.transfer(credit("e-1", 100))
        before = state(backend, EXPENSE, WALLET, ledger.in_flight(ALICE))
        too_much = Transfer.for_event(TransferKind.PAYOUT_START, "w-1", WALLET, ledger.in_flight(ALICE), 101,
                                      NOW_MS + 1)

        with pytest.raises(InsufficientBalance):
            backend.ledger.transfer(too_much)

        assert state(backend, EXPENSE, WALLET, ledger.in_flight(ALICE)) == before
        # the refused id was not used up, and exactly the balance may be spent
        assert backend.ledger.transfer(replace(too_much, amount_fen=100)) is True
        assert backend.ledger.balances([WALLET, ledger.in_flight(ALICE)]) == {
            WALLET: (0, 2), ledger.in_flight(ALICE): (100, 1)}

    @pytest.mark.parametrize("account", [ledger.wallet("r_new"), ledger.pending(NOBODYS_PHONE),
                                         ledger.in_flight("r_new"), ledger.paid_out("w-1")])
    def test_an_account_that_never_moved_cannot_pay(self, backend: Backend, account: Account) -> None:
        with pytest.raises(InsufficientBalance):
            backend.ledger.transfer(credit("e-1", 1, debit=account, to=WALLET))
        assert state(backend, account, WALLET) == ({account: (0, 0), WALLET: (0, 0)}, [[], []])

    def test_an_expense_account_goes_negative(self, backend: Backend) -> None:
        for n in range(3):
            assert backend.ledger.transfer(credit(f"e-{n}", 1_000)) is True
        assert backend.ledger.balances([EXPENSE]) == {EXPENSE: (-3_000, 3)}
        books_are_right(backend)

    def test_entries_are_listed_newest_first_page_by_page(self, backend: Backend) -> None:
        times = [NOW_MS + n * 1_000 for n in (3, 0, 4, 1, 2)]
        for n, at in enumerate(times):
            backend.ledger.transfer(credit(f"e-{n}", 10 + n, at_ms=at))
        backend.ledger.transfer(credit("same-ms-b", 7, at_ms=NOW_MS + 2_000))  # ties are ordered by transfer id
        backend.ledger.transfer(credit("elsewhere", 5, to=OTHER_WALLET))

        listed, pages = collect(lambda cursor: backend.ledger.entries(WALLET, 2, cursor))

        assert [(e.at_ms, e.transfer_id) for e in listed] == sorted(
            ((e.at_ms, e.transfer_id) for e in listed), reverse=True)
        assert [e.at_ms for e in listed] == sorted([*times, NOW_MS + 2_000], reverse=True)
        assert all(e.account == WALLET and e.amount_fen > 0 for e in listed)
        assert pages >= 3
        assert [e.amount_fen for e in backend.ledger.entries(OTHER_WALLET, 10, None).items] == [5]

    def test_a_cursor_of_another_accounts_entries_is_bad_input(self, backend: Backend) -> None:
        for n in range(3):
            backend.ledger.transfer(credit(f"e-{n}", 10, at_ms=NOW_MS + n, to=OTHER_WALLET))
        backend.ledger.transfer(credit("mine", 10))
        cursor = backend.ledger.entries(OTHER_WALLET, 1, None).next_cursor
        assert cursor is not None
        assert bad_input_code(lambda: backend.ledger.entries(WALLET, 1, cursor)) == "invalid_cursor"
        assert bad_input_code(lambda: backend.ledger.entries(WALLET, 1, "%%garbage%%")) == "invalid_cursor"


# --------------------------------------------------------------------------------------- recycling

PRICE = 80  # fen per kg of paper


def bin_device() -> Device:
    return Device(thing_name=BIN, community_id=CID, type=DeviceType.RECYCLING_BIN, status=DeviceStatus.ACTIVE,
                  registered_at_ms=NOW_MS - HOUR_MS)


def weighin(event_id: str, weight_g: int, received_at_ms: int = NOW_MS, phone_key: str = ALICE_PHONE,
            resident_id: str | None = ALICE, thing_name: str = BIN, community_id: str = CID,
            cap_fen: int = 5_000, transfer_key: str | None = None
            ) -> tuple[DeviceMessage, WeighinRecord, Transfer | None, DailyCap, OutboxEvent | None]:
    """Everything ``record_weighin`` takes for one drop of paper, as the service computes it."""
    message = DeviceMessage(community_id=community_id, thing_name=thing_name, kind="weighin", event_id=event_id,
                            ts_ms=received_at_ms - 200, received_at_ms=received_at_ms, client_id=thing_name,
                            reading=Weighin(category="paper", weight_g=weight_g, phone="13800138000"))
    amount = credit_fen(weight_g, PRICE)
    business_key = transfer_key or f"{thing_name}:{event_id}"
    payee = ledger.wallet(resident_id) if resident_id else ledger.pending(phone_key)
    transfer = Transfer.for_event(TransferKind.RECYCLING_CREDIT, business_key,
                                  ledger.recycling_expense(community_id, business_key), payee, amount,
                                  received_at_ms, {"community_id": community_id}) if amount > 0 else None
    record = WeighinRecord(community_id=community_id, thing_name=thing_name, event_id=event_id, category="paper",
                           weight_g=weight_g, price_fen_per_kg=PRICE, credit_fen=amount, ts_ms=received_at_ms - 200,
                           received_at_ms=received_at_ms, phone_key=phone_key, phone_masked="138****8000",
                           resident_id=resident_id, transfer_id=transfer.transfer_id if transfer else "")
    cap = DailyCap(community_id, phone_key, china_day(received_at_ms), cap_fen)
    event = OutboxEvent(type=CREDITED, community_id=community_id, key=business_key,
                        data={"resident_id": resident_id, "credit_fen": amount}) if resident_id else None
    return message, record, transfer, cap, event


def record(backend: Backend, drop: tuple[DeviceMessage, WeighinRecord, Transfer | None, DailyCap,
                                         OutboxEvent | None], advance: bool = True) -> WeighinOutcome:
    message, rec, transfer, cap, event = drop
    return backend.recycling.record_weighin(message, advance, rec, transfer, cap, event)


def recycling_state(backend: Backend, phone_key: str = ALICE_PHONE) -> tuple[Any, ...]:
    """What a weigh-in writes: marker, cap counter, device, money (a version moves with every entry written),
    weigh-ins and events."""
    cap = DailyCap(CID, phone_key, china_day(NOW_MS), 0)
    return (backend.recycling.load_weighin(BIN, "e-1", cap, with_terms=False),
            backend.ledger.balances([WALLET, ledger.pending(phone_key), *ledger.recycling_expense_shards(CID)]),
            all_entries(backend, WALLET),
            collect(lambda c: backend.recycling.weighins_of_phone(phone_key, 100, c))[0],
            backend.credited_events())


class TestRecyclingBookContract:
    @pytest.fixture(autouse=True)
    def _bin_and_residents(self, backend: Backend) -> None:
        backend.devices.register(bin_device(), OutboxEvent("device.registered", CID, BIN))
        for rid in (ALICE, BOB):
            backend.residents.login(Resident(rid, f"openid-{rid}", NOW_MS), "session")
        backend.residents.bind_phone(ALICE, ALICE_PHONE, "138****8000")

    def test_load_reads_device_marker_owner_and_todays_total(self, backend: Backend) -> None:
        cap = DailyCap(CID, ALICE_PHONE, china_day(NOW_MS), 5_000)
        context = backend.recycling.load_weighin(BIN, "e-1", cap, with_terms=False)
        assert (context.device, context.seen, context.owner_resident_id, context.credited_today_fen,
                context.terms) == (bin_device(), False, ALICE, 0, None)

        nobody = backend.recycling.load_weighin("bin-9999", "e-1", replace(cap, phone_key=NOBODYS_PHONE), True)
        assert (nobody.device, nobody.owner_resident_id, nobody.terms) == (None, None, CommunityTerms())

    def test_load_reads_the_communitys_terms_when_asked(self, backend: Backend) -> None:
        backend.communities.set_prices(CID, {"paper": PRICE, "metal": 300})
        backend.communities.set_settings(CID, CommunitySettings(daily_cap_fen=800))
        cap = DailyCap(CID, ALICE_PHONE, china_day(NOW_MS), 800)
        assert backend.recycling.load_weighin(BIN, "e-1", cap, with_terms=True).terms == CommunityTerms(
            prices={"paper": PRICE, "metal": 300}, settings=CommunitySettings(daily_cap_fen=800))
        assert backend.recycling.load_weighin(BIN, "e-1", cap, with_terms=False).terms is None

    def test_a_recorded_weighin_writes_everything_at_once(self, backend: Backend) -> None:
        drop = weighin("e-1", 2_350, received_at_ms=NOW_MS + 500)
        message, rec, transfer, cap, event = drop
        assert transfer is not None and transfer.amount_fen == 188

        assert record(backend, drop) is WeighinOutcome.RECORDED

        context = backend.recycling.load_weighin(BIN, "e-1", cap, with_terms=False)
        assert (context.seen, context.credited_today_fen) == (True, 188)
        assert context.device is not None and context.device.last_seen_ms == NOW_MS + 500
        assert context.device.last_event == LastEvent("weighin", "e-1", message.ts_ms)
        assert backend.ledger.balances([WALLET, transfer.debit]) == {WALLET: (188, 1), transfer.debit: (-188, 1)}
        assert backend.recycling.weighins_of_phone(ALICE_PHONE, 10, None).items == [rec]
        assert backend.credited_events() == [event]
        assert backend.recycling.load_weighin(BIN, "e-2", cap, with_terms=False).seen is False
        books_are_right(backend)

    def test_credit_for_an_unbound_phone_is_held_for_it(self, backend: Backend) -> None:
        drop = weighin("e-1", 1_000, phone_key=NOBODYS_PHONE, resident_id=None)
        assert record(backend, drop) is WeighinOutcome.RECORDED
        assert backend.ledger.balances([ledger.pending(NOBODYS_PHONE)]) == {ledger.pending(NOBODYS_PHONE): (80, 1)}
        assert backend.recycling.weighins_of_phone(NOBODYS_PHONE, 10, None).items == [drop[1]]
        assert backend.credited_events() == []

    def test_a_weighin_worth_nothing_is_recorded_without_moving_money(self, backend: Backend) -> None:
        drop = weighin("e-1", 5)  # 5 g at 80 fen/kg is 0 fen
        assert drop[2] is None
        assert record(backend, drop) is WeighinOutcome.RECORDED
        assert backend.recycling.weighins_of_phone(ALICE_PHONE, 10, None).items == [drop[1]]
        untouched = [WALLET, *ledger.recycling_expense_shards(CID)]
        assert state(backend, *untouched) == ({a: (0, 0) for a in untouched}, [[] for _ in untouched])
        assert backend.recycling.load_weighin(BIN, "e-1", drop[3], with_terms=False).seen is True

    def test_the_same_event_again_is_a_duplicate_that_writes_nothing(self, backend: Backend) -> None:
        assert record(backend, weighin("e-1", 1_000)) is WeighinOutcome.RECORDED
        before = recycling_state(backend)

        # redelivered later, even if valued differently: the dedupe marker decides
        assert record(backend, weighin("e-1", 2_000, received_at_ms=NOW_MS + 9_000)) is WeighinOutcome.DUPLICATE

        assert recycling_state(backend) == before

    def test_an_event_whose_transfer_exists_is_a_duplicate(self, backend: Backend) -> None:
        assert record(backend, weighin("e-1", 1_000)) is WeighinOutcome.RECORDED
        before = recycling_state(backend)

        # a new event id (say the marker expired) carrying the business key that already moved money
        assert record(backend, weighin("e-2", 1_000, transfer_key=f"{BIN}:e-1")) is WeighinOutcome.DUPLICATE

        assert recycling_state(backend) == before
        assert backend.recycling.load_weighin(BIN, "e-2", weighin("e-2", 1)[3], with_terms=False).seen is False

    def test_credit_for_an_owner_who_lost_the_phone_meanwhile_is_refused(self, backend: Backend) -> None:
        backend.residents.bind_phone(ALICE, "pk-alice-new", "139****9000")  # ALICE_PHONE is free again
        before = recycling_state(backend)

        assert record(backend, weighin("e-1", 1_000, resident_id=ALICE)) is WeighinOutcome.OWNER_CHANGED

        assert recycling_state(backend) == before

    def test_credit_for_a_phone_rebound_to_someone_else_is_refused(self, backend: Backend) -> None:
        backend.residents.bind_phone(ALICE, "pk-alice-new", "139****9000")
        backend.residents.bind_phone(BOB, ALICE_PHONE, "138****8000")
        before = recycling_state(backend)

        assert record(backend, weighin("e-1", 1_000, resident_id=ALICE)) is WeighinOutcome.OWNER_CHANGED

        assert recycling_state(backend) == before
        assert record(backend, weighin("e-1", 1_000, resident_id=BOB)) is WeighinOutcome.RECORDED

    def test_held_credit_for_a_phone_bound_meanwhile_is_refused(self, backend: Backend) -> None:
        before = recycling_state(backend)
        # computed while the phone looked unbound; ALICE holds it
        assert record(backend, weighin("e-1", 1_000, resident_id=None)) is WeighinOutcome.OWNER_CHANGED
        assert recycling_state(backend) == before

        backend.residents.bind_phone(BOB, BOB_PHONE, "139****9000")
        assert record(backend, weighin("e-2", 1_000, phone_key=BOB_PHONE, resident_id=None)) \
            is WeighinOutcome.OWNER_CHANGED
        assert record(backend, weighin("e-2", 1_000, phone_key=BOB_PHONE, resident_id=BOB)) is WeighinOutcome.RECORDED

    def test_the_daily_cap_allows_exactly_the_cap_and_not_a_fen_more(self, backend: Backend) -> None:
        cap = 200  # fen
        assert record(backend, weighin("e-1", 1_500, cap_fen=cap)) is WeighinOutcome.RECORDED  # 120 fen
        assert record(backend, weighin("e-2", 1_000, cap_fen=cap)) is WeighinOutcome.RECORDED  # 80: exactly 200
        before = recycling_state(backend)

        assert record(backend, weighin("e-3", 13, cap_fen=cap)) is WeighinOutcome.CAP_REACHED  # 1 fen over

        assert recycling_state(backend) == before
        assert backend.recycling.load_weighin(BIN, "e-3", weighin("e-3", 13, cap_fen=cap)[3], False) \
            .credited_today_fen == 200
        # a drop worth 0 fen still fits, and the next China day has a cap of its own
        assert record(backend, weighin("e-4", 5, cap_fen=cap)) is WeighinOutcome.RECORDED
        next_day = NOW_MS + 24 * HOUR_MS
        assert record(backend, weighin("e-5", 1_000, received_at_ms=next_day, cap_fen=cap)) is WeighinOutcome.RECORDED
        assert backend.ledger.balances([WALLET])[WALLET][0] == 280

    def test_a_first_credit_of_the_day_above_the_cap_is_refused_too(self, backend: Backend) -> None:
        before = recycling_state(backend)
        assert record(backend, weighin("e-1", 10_000, cap_fen=200)) is WeighinOutcome.CAP_REACHED  # 800 fen
        assert recycling_state(backend) == before

    def test_the_cap_counts_per_community(self, backend: Backend) -> None:
        assert record(backend, weighin("e-1", 2_500, cap_fen=200)) is WeighinOutcome.RECORDED  # 200 fen
        assert record(backend, weighin("e-2", 2_500, community_id=OTHER, cap_fen=200)) is WeighinOutcome.RECORDED
        assert record(backend, weighin("e-3", 13, cap_fen=200)) is WeighinOutcome.CAP_REACHED

    def test_last_seen_only_moves_forward(self, backend: Backend) -> None:
        assert record(backend, weighin("newer", 1_000, received_at_ms=NOW_MS + 2_000)) is WeighinOutcome.RECORDED
        # an older message whose caller still thought it newest is credited, but leaves the device alone
        assert record(backend, weighin("older", 1_000, received_at_ms=NOW_MS + 1_000)) is WeighinOutcome.RECORDED
        assert record(backend, weighin("same-ms", 1_000, received_at_ms=NOW_MS + 2_000)) is WeighinOutcome.RECORDED
        assert record(backend, weighin("not-advancing", 1_000, received_at_ms=NOW_MS + 3_000), advance=False) \
            is WeighinOutcome.RECORDED

        device = backend.devices.get(BIN)
        assert device is not None and device.last_seen_ms == NOW_MS + 2_000
        assert device.last_event is not None and device.last_event.event_id == "newer"
        assert backend.ledger.balances([WALLET])[WALLET] == (320, 4)

    def test_a_weighin_of_a_device_that_is_gone_is_still_recorded_once(self, backend: Backend) -> None:
        drop = weighin("e-1", 1_000, thing_name="ghost")
        assert record(backend, drop) is WeighinOutcome.RECORDED
        assert backend.devices.get("ghost") is None
        assert record(backend, drop) is WeighinOutcome.DUPLICATE
        assert backend.ledger.balances([WALLET])[WALLET] == (80, 1)

    def test_weighins_of_a_phone_are_listed_newest_first_page_by_page(self, backend: Backend) -> None:
        times = [NOW_MS + n * 1_000 for n in (3, 0, 4, 1, 2)]
        for n, at in enumerate(times):
            record(backend, weighin(f"e-{n}", 1_000 + n, received_at_ms=at))
        backend.residents.bind_phone(BOB, BOB_PHONE, "139****9000")
        for n in range(3):
            record(backend, weighin(f"bob-{n}", 1_000, received_at_ms=NOW_MS + n, phone_key=BOB_PHONE,
                                    resident_id=BOB))

        listed, pages = collect(lambda cursor: backend.recycling.weighins_of_phone(ALICE_PHONE, 2, cursor))

        assert [w.received_at_ms for w in listed] == sorted(times, reverse=True)
        assert [w.weight_g for w in listed] == [1_002, 1_000, 1_004, 1_003, 1_001]
        assert pages >= 3
        cursor = backend.recycling.weighins_of_phone(BOB_PHONE, 1, None).next_cursor
        assert cursor is not None
        assert bad_input_code(lambda: backend.recycling.weighins_of_phone(ALICE_PHONE, 1, cursor)) == "invalid_cursor"
        assert backend.recycling.weighins_of_phone(NOBODYS_PHONE, 10, None) == Page(items=[], next_cursor=None)

    def test_weighins_of_a_community_are_listed_by_china_day(self, backend: Backend) -> None:
        midnight = NOW_MS + 16 * HOUR_MS  # 2026-01-02 00:00 in China (UTC+8)
        assert (china_day(midnight - 1), china_day(midnight)) == ("20260101", "20260102")
        drops = {"late": midnight - 60_000, "last-ms": midnight - 1, "first-ms": midnight, "early": midnight + 60_000}
        for event_id, at in drops.items():
            record(backend, weighin(event_id, 1_000, received_at_ms=at))
        record(backend, weighin("elsewhere", 1_000, received_at_ms=midnight - 1, community_id=OTHER))

        first, _ = collect(lambda c: backend.recycling.weighins_of_day(CID, "20260101", 1, c))
        second, pages = collect(lambda c: backend.recycling.weighins_of_day(CID, "20260102", 1, c))

        assert [w.event_id for w in first] == ["last-ms", "late"]
        assert [w.event_id for w in second] == ["early", "first-ms"]
        assert pages >= 2
        assert [w.event_id for w in backend.recycling.weighins_of_day(OTHER, "20260101", 10, None).items] \
            == ["elsewhere"]
        cursor = backend.recycling.weighins_of_day(CID, "20260101", 1, None).next_cursor
        assert cursor is not None
        assert bad_input_code(lambda: backend.recycling.weighins_of_day(CID, "20260102", 1, cursor)) \
            == "invalid_cursor"


# ------------------------------------------------------------------------------------- withdrawals


def withdrawal(n: int, amount_fen: int = 300, created_at_ms: int = NOW_MS, resident_id: str = ALICE) -> Withdrawal:
    wid = f"wd_{n:06d}"
    return Withdrawal(withdrawal_id=wid, resident_id=resident_id, openid=f"openid-{resident_id}",
                      amount_fen=amount_fen, status=WithdrawalStatus.PROCESSING, out_bill_no=out_bill_no(wid),
                      created_at_ms=created_at_ms, updated_at_ms=created_at_ms)


def start_transfer(w: Withdrawal) -> Transfer:
    return Transfer.for_event(TransferKind.PAYOUT_START, w.withdrawal_id, ledger.wallet(w.resident_id),
                              ledger.in_flight(w.resident_id), w.amount_fen, w.created_at_ms,
                              {"withdrawal_id": w.withdrawal_id})


def ending(w: Withdrawal, status: WithdrawalStatus, at_ms: int = NOW_MS + 60_000,
           fail_reason: str | None = None) -> tuple[Withdrawal, Transfer]:
    """The ended withdrawal and its transfer, as the service builds them."""
    rid, wid = w.resident_id, w.withdrawal_id
    if status is WithdrawalStatus.SUCCEEDED:
        move = Transfer.for_event(TransferKind.PAYOUT_SETTLE, wid, ledger.in_flight(rid), ledger.paid_out(wid),
                                  w.amount_fen, at_ms)
    else:
        move = Transfer.for_event(TransferKind.PAYOUT_RETURN, wid, ledger.in_flight(rid), ledger.wallet(rid),
                                  w.amount_fen, at_ms, {"status": status.value})
    return w.ended(status, at_ms, fail_reason), move


def bill_for(w: Withdrawal) -> TransferBill:
    return TransferBill(out_bill_no=w.out_bill_no, state=BillState.WAIT_USER_CONFIRM, amount_fen=w.amount_fen,
                        transfer_bill_no=f"1330-{w.withdrawal_id}", package_info=f"package-{w.withdrawal_id}")


IN_FLIGHT = ledger.in_flight(ALICE)


class TestWithdrawalsContract:
    @pytest.fixture(autouse=True)
    def _funded(self, backend: Backend) -> None:
        backend.ledger.transfer(credit("funding", 1_000, at_ms=NOW_MS - HOUR_MS))

    def money(self, backend: Backend, *extra: Account) -> dict[Account, int]:
        return {a: b for a, (b, _) in backend.ledger.balances([WALLET, IN_FLIGHT, *extra]).items()}

    def test_start_stores_the_withdrawal_and_moves_its_money_in_flight(self, backend: Backend) -> None:
        w = withdrawal(1)
        backend.withdrawals.start(w, start_transfer(w), ("key-1", "hash-1"))

        assert backend.withdrawals.get(w.withdrawal_id) == w
        assert backend.withdrawals.get("wd_999999") is None
        assert self.money(backend) == {WALLET: 700, IN_FLIGHT: 300}
        assert backend.withdrawals.list_for_resident(ALICE, 10, None).items == [w]
        assert backend.withdrawals.list_open(NOW_MS + 1, 10) == [w]
        books_are_right(backend)

    def test_a_reused_idempotency_key_names_the_first_withdrawal_and_writes_nothing(self, backend: Backend) -> None:
        first = withdrawal(1)
        backend.withdrawals.start(first, start_transfer(first), ("key-1", "hash-1"))
        second = withdrawal(2, amount_fen=100)

        with pytest.raises(IdempotencyReused) as caught:
            backend.withdrawals.start(second, start_transfer(second), ("key-1", "hash-2"))

        assert (caught.value.request_hash, caught.value.resource_id) == ("hash-1", first.withdrawal_id)
        assert backend.withdrawals.get(second.withdrawal_id) is None
        assert self.money(backend) == {WALLET: 700, IN_FLIGHT: 300}
        # the key is the resident's own: another resident may use the same words
        backend.ledger.transfer(credit("bob-funding", 500, to=OTHER_WALLET))
        bobs = withdrawal(3, resident_id=BOB)
        backend.withdrawals.start(bobs, start_transfer(bobs), ("key-1", "hash-1"))
        assert backend.withdrawals.get(bobs.withdrawal_id) == bobs

    def test_a_reused_key_wins_over_an_empty_wallet(self, backend: Backend) -> None:
        first = withdrawal(1, amount_fen=1_000)
        backend.withdrawals.start(first, start_transfer(first), ("key-1", "hash-1"))
        again = withdrawal(2, amount_fen=1_000)
        with pytest.raises(IdempotencyReused):
            backend.withdrawals.start(again, start_transfer(again), ("key-1", "hash-1"))

    def test_more_than_the_wallet_holds_is_refused_and_writes_nothing(self, backend: Backend) -> None:
        w = withdrawal(1, amount_fen=1_001)

        with pytest.raises(InsufficientBalance):
            backend.withdrawals.start(w, start_transfer(w), ("key-1", "hash-1"))

        assert backend.withdrawals.get(w.withdrawal_id) is None
        assert self.money(backend) == {WALLET: 1_000, IN_FLIGHT: 0}
        assert backend.withdrawals.list_for_resident(ALICE, 10, None).items == []
        assert backend.withdrawals.list_open(NOW_MS + 1, 10) == []
        # the key was not used up
        exact = withdrawal(2, amount_fen=1_000)
        backend.withdrawals.start(exact, start_transfer(exact), ("key-1", "hash-1"))
        assert self.money(backend) == {WALLET: 0, IN_FLIGHT: 1_000}

    def test_a_bill_is_recorded_while_the_withdrawal_is_open(self, backend: Backend) -> None:
        w = withdrawal(1)
        backend.withdrawals.start(w, start_transfer(w), None)
        later = NOW_MS + 1_000

        recorded = backend.withdrawals.record_bill(w.withdrawal_id, bill_for(w), later)

        expected = replace(w, status=WithdrawalStatus.WAIT_USER_CONFIRM, package_info=f"package-{w.withdrawal_id}",
                           transfer_bill_no=f"1330-{w.withdrawal_id}", updated_at_ms=later)
        assert recorded == expected
        assert backend.withdrawals.get(w.withdrawal_id) == expected
        # recording again (a callback and a query racing) keeps it waiting
        assert backend.withdrawals.record_bill(w.withdrawal_id, bill_for(w), later + 1) == replace(
            expected, updated_at_ms=later + 1)
        assert backend.withdrawals.record_bill("wd_999999", bill_for(w), later) is None
        assert backend.withdrawals.get("wd_999999") is None

    def test_a_bill_without_package_info_keeps_the_one_recorded(self, backend: Backend) -> None:
        w = withdrawal(1)
        backend.withdrawals.start(w, start_transfer(w), None)
        first = backend.withdrawals.record_bill(w.withdrawal_id, bill_for(w), NOW_MS + 1_000)
        assert first is not None

        # a query that says "still waiting" without the package (WeChat shows it only at creation)
        bare = replace(bill_for(w), package_info=None, transfer_bill_no=None)
        again = backend.withdrawals.record_bill(w.withdrawal_id, bare, NOW_MS + 2_000)

        assert again == replace(first, updated_at_ms=NOW_MS + 2_000)
        assert backend.withdrawals.get(w.withdrawal_id) == again

    def test_no_bill_is_recorded_once_the_withdrawal_ended(self, backend: Backend) -> None:
        w = withdrawal(1)
        backend.withdrawals.start(w, start_transfer(w), None)
        ended, move = ending(w, WithdrawalStatus.FAILED, fail_reason="OPENID_INVALID")
        assert backend.withdrawals.finish(ended, move, None) is True

        assert backend.withdrawals.record_bill(w.withdrawal_id, bill_for(w), NOW_MS + HOUR_MS) is None
        assert backend.withdrawals.get(w.withdrawal_id) == ended

    def test_a_withdrawal_succeeds_once(self, backend: Backend) -> None:
        w = withdrawal(1)
        backend.withdrawals.start(w, start_transfer(w), None)
        waiting = backend.withdrawals.record_bill(w.withdrawal_id, bill_for(w), NOW_MS + 1_000)
        assert waiting is not None
        succeeded, settle = ending(waiting, WithdrawalStatus.SUCCEEDED)
        paid_out = ledger.paid_out(w.withdrawal_id)

        assert backend.withdrawals.finish(succeeded, settle, "notify-1") is True

        assert backend.withdrawals.get(w.withdrawal_id) == succeeded  # bill fields kept
        assert self.money(backend, paid_out) == {WALLET: 700, IN_FLIGHT: 0, paid_out: 300}
        before = state(backend, WALLET, IN_FLIGHT, paid_out)
        # the same ending again, a later callback that says it failed, the expiry job: all change nothing
        assert backend.withdrawals.finish(succeeded, settle, "notify-1") is False
        assert backend.withdrawals.finish(*ending(waiting, WithdrawalStatus.FAILED), "notify-2") is False
        assert backend.withdrawals.finish(*ending(waiting, WithdrawalStatus.CANCELLED), None) is False
        assert state(backend, WALLET, IN_FLIGHT, paid_out) == before
        assert backend.withdrawals.get(w.withdrawal_id) == succeeded
        books_are_right(backend)

    def test_a_failed_withdrawal_returns_the_money_and_keeps_the_reason(self, backend: Backend) -> None:
        w = withdrawal(1)
        backend.withdrawals.start(w, start_transfer(w), None)
        failed, back = ending(w, WithdrawalStatus.FAILED, fail_reason="PAYEE_ACCOUNT_ABNORMAL")

        assert backend.withdrawals.finish(failed, back, None) is True

        assert backend.withdrawals.get(w.withdrawal_id) == failed
        assert self.money(backend) == {WALLET: 1_000, IN_FLIGHT: 0}

    def test_staff_see_their_community_s_open_withdrawals_until_they_end(self, backend: Backend) -> None:
        backend.ledger.transfer(credit("bob-funding", 500, to=OTHER_WALLET))
        first = replace(withdrawal(1, amount_fen=100), community_id=CID)
        second = replace(withdrawal(2, amount_fen=200, created_at_ms=NOW_MS + 1), community_id=CID)
        elsewhere = replace(withdrawal(3, resident_id=BOB), community_id=OTHER)
        homeless = withdrawal(4, amount_fen=50)  # no residence set: no community lists it
        for w in (first, second, elsewhere, homeless):
            backend.withdrawals.start(w, start_transfer(w), None)
        waiting = backend.withdrawals.record_bill(first.withdrawal_id, bill_for(first), NOW_MS + 2)

        page = backend.withdrawals.list_open_in_community(CID, 1, None)
        assert page.items == [second] and page.next_cursor is not None
        rest = backend.withdrawals.list_open_in_community(CID, 10, page.next_cursor)
        assert rest.items == [waiting] and rest.next_cursor is None
        assert backend.withdrawals.list_open_in_community(OTHER, 10, None).items == [elsewhere]
        assert bad_input_code(lambda: backend.withdrawals.list_open_in_community(OTHER, 10, page.next_cursor)) \
            == "invalid_cursor"

        backend.withdrawals.finish(*ending(second, WithdrawalStatus.CANCELLED), None)
        assert backend.withdrawals.list_open_in_community(CID, 10, None).items == [waiting]
        assert backend.withdrawals.get(second.withdrawal_id) == second.ended(WithdrawalStatus.CANCELLED,
                                                                            NOW_MS + 60_000)

    def test_an_unknown_withdrawal_cannot_be_finished(self, backend: Backend) -> None:
        ghost = withdrawal(9)
        backend.ledger.transfer(start_transfer(withdrawal(8)))  # money in flight that is not ghost's
        before = state(backend, WALLET, IN_FLIGHT)
        assert backend.withdrawals.finish(*ending(ghost, WithdrawalStatus.FAILED), None) is False
        assert backend.withdrawals.get(ghost.withdrawal_id) is None
        assert state(backend, WALLET, IN_FLIGHT) == before

    def test_a_notification_is_applied_once(self, backend: Backend) -> None:
        first, second = withdrawal(1), withdrawal(2)
        for w in (first, second):
            backend.withdrawals.start(w, start_transfer(w), None)
        assert backend.withdrawals.finish(*ending(first, WithdrawalStatus.SUCCEEDED), "notify-1") is True
        before = state(backend, WALLET, IN_FLIGHT, ledger.paid_out(second.withdrawal_id))

        assert backend.withdrawals.finish(*ending(second, WithdrawalStatus.SUCCEEDED), "notify-1") is False

        assert backend.withdrawals.get(second.withdrawal_id) == second
        assert state(backend, WALLET, IN_FLIGHT, ledger.paid_out(second.withdrawal_id)) == before
        assert backend.withdrawals.finish(*ending(second, WithdrawalStatus.SUCCEEDED), "notify-2") is True

    def test_only_open_withdrawals_started_before_the_time_are_listed_open(self, backend: Backend) -> None:
        started = [withdrawal(n, amount_fen=100, created_at_ms=NOW_MS + n * 1_000) for n in range(1, 7)]
        for w in started:
            backend.withdrawals.start(w, start_transfer(w), None)
        waiting = backend.withdrawals.record_bill(started[1].withdrawal_id, bill_for(started[1]), NOW_MS + 10_000)
        backend.withdrawals.finish(*ending(started[0], WithdrawalStatus.SUCCEEDED), None)
        backend.withdrawals.finish(*ending(started[2], WithdrawalStatus.CANCELLED), None)

        listed = backend.withdrawals.list_open(NOW_MS + 6_000, 10)

        assert sorted(listed, key=lambda w: w.withdrawal_id) == [waiting, started[3], started[4]]  # 6 is not before
        assert len(backend.withdrawals.list_open(NOW_MS + 100_000, 2)) == 2
        assert backend.withdrawals.list_open(NOW_MS, 10) == []

    def test_a_residents_withdrawals_are_listed_newest_first_page_by_page(self, backend: Backend) -> None:
        backend.ledger.transfer(credit("bob-funding", 500, to=OTHER_WALLET))
        times = [NOW_MS + n * 1_000 for n in (3, 0, 4, 1, 2)]
        mine = [withdrawal(n, amount_fen=100, created_at_ms=at) for n, at in enumerate(times)]
        for w in mine:
            backend.withdrawals.start(w, start_transfer(w), None)
        for n in range(2):
            bobs = withdrawal(10 + n, amount_fen=100, resident_id=BOB)
            backend.withdrawals.start(bobs, start_transfer(bobs), None)

        listed, pages = collect(lambda cursor: backend.withdrawals.list_for_resident(ALICE, 2, cursor))

        assert listed == sorted(mine, key=lambda w: w.created_at_ms, reverse=True)
        assert pages >= 3
        cursor = backend.withdrawals.list_for_resident(BOB, 1, None).next_cursor
        assert cursor is not None
        assert bad_input_code(lambda: backend.withdrawals.list_for_resident(ALICE, 1, cursor)) == "invalid_cursor"


# ------------------------------------------------------------------------------ the fakes' own promise


class TestFakeLedgerUnderContention:
    """Thread-safety is the fakes' promise (moto's is not tested here): concurrent spending of one wallet
    never overdraws it, and a business event moves money once however many threads deliver it."""

    def test_concurrent_spending_never_overdraws(self) -> None:
        fake = FakeLedger()
        fake.transfer(credit("funding", 1_000))
        outcomes: list[str] = []

        def spend(n: int) -> None:
            move = Transfer.for_event(TransferKind.PAYOUT_START, f"w-{n % 15}", WALLET, IN_FLIGHT, 100, NOW_MS + n)
            try:
                outcomes.append("moved" if fake.transfer(move) else "duplicate")
            except InsufficientBalance:
                outcomes.append("insufficient")

        threads = [threading.Thread(target=spend, args=(n,)) for n in range(45)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert outcomes.count("moved") == 10
        assert fake.balances([WALLET, IN_FLIGHT]) == {WALLET: (0, 11), IN_FLIGHT: (1_000, 10)}
        assert fake.violations() == []
