"""FakeWeChatPay: the merchant's WeChat Pay in memory — bills, the resident's side, faults and callbacks.

Service tests trust this fake to behave like WeChat Pay seen through ``WeChatPayClient``: one bill per
``out_bill_no``, the errors the adapter raises, and callbacks that verify only when nobody touched them.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import pytest

from chalicelib.domain.errors import CallbackRejected, PayoutAmbiguous, PayoutRefused, UpstreamUnavailable
from chalicelib.ports import BillState, PayNotification, TransferBill, WeChatPay
from tests.support.money_fakes import (
    BILL_FINISHED,
    CLOCK_SKEW_S,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    FakeWeChatPay,
    FaultMode,
)

NO = "LLW000001"
OPENID = "openid-of-r_alice"
REMARK = "邻里回收奖励提现"
NOW_S = 1_767_225_600


@pytest.fixture
def pay() -> FakeWeChatPay:
    return FakeWeChatPay()


def create(pay: FakeWeChatPay, out_bill_no: str = NO, amount_fen: int = 300, openid: str = OPENID) -> TransferBill:
    return pay.create_transfer_bill(out_bill_no, openid, amount_fen, REMARK)


def test_it_is_a_wechatpay_port() -> None:
    port: WeChatPay = FakeWeChatPay()
    assert port.query_transfer_bill(NO) is None


# ------------------------------------------------------------------------------------------- bills


class TestBills:
    def test_a_new_bill_waits_for_the_resident_with_a_package(self, pay: FakeWeChatPay) -> None:
        bill = create(pay)
        assert (bill.out_bill_no, bill.state, bill.amount_fen) == (NO, BillState.WAIT_USER_CONFIRM, 300)
        assert bill.package_info and bill.transfer_bill_no
        assert pay.query_transfer_bill(NO) == bill
        assert pay.calls["create"] == 1

    def test_the_same_out_bill_no_is_the_same_bill(self, pay: FakeWeChatPay) -> None:
        first = create(pay)
        assert create(pay) == first
        assert len(pay.bills) == 1
        assert create(pay, "LLW000002").transfer_bill_no != first.transfer_bill_no

    @pytest.mark.parametrize(("amount_fen", "openid"), [(301, OPENID), (300, "openid-of-r_mallory")])
    def test_the_same_out_bill_no_with_other_parameters_is_refused(self, pay: FakeWeChatPay, amount_fen: int,
                                                                   openid: str) -> None:
        first = create(pay)
        with pytest.raises(PayoutRefused):
            create(pay, amount_fen=amount_fen, openid=openid)
        assert pay.query_transfer_bill(NO) == first

    @pytest.mark.parametrize(("out_bill_no", "amount_fen", "openid", "remark"), [
        ("LLW1", 300, OPENID, REMARK),  # too short
        ("LLW_000001", 300, OPENID, REMARK),  # not letters and digits
        (NO, 9, OPENID, REMARK),  # below WeChat's 0.10 CNY
        (NO, 200_000, OPENID, REMARK),  # would need the payee's real name
        (NO, 300, "", REMARK),
        (NO, 300, OPENID, ""),
    ])
    def test_a_bill_wechat_would_not_accept_is_refused_and_not_created(
            self, pay: FakeWeChatPay, out_bill_no: str, amount_fen: int, openid: str, remark: str) -> None:
        with pytest.raises(PayoutRefused):
            pay.create_transfer_bill(out_bill_no, openid, amount_fen, remark)
        assert pay.bills == {}

    def test_an_unknown_bill_is_none(self, pay: FakeWeChatPay) -> None:
        assert pay.query_transfer_bill("LLW999999") is None
        assert pay.query_transfer_bill("no/such/bill") is None

    def test_concurrent_creates_of_one_out_bill_no_make_one_bill(self, pay: FakeWeChatPay) -> None:
        answers: list[TransferBill] = []
        threads = [threading.Thread(target=lambda: answers.append(create(pay))) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(pay.bills) == 1
        assert len(set(answers)) == 1


# --------------------------------------------------------------------------- the resident and WeChat


class TestEndings:
    def test_confirming_succeeds_and_says_so_in_a_callback(self, pay: FakeWeChatPay) -> None:
        bill = create(pay)
        notification = pay.confirm(NO)

        assert notification.event_type == BILL_FINISHED
        assert notification.resource == {"out_bill_no": NO, "transfer_bill_no": bill.transfer_bill_no,
                                          "state": "SUCCESS", "transfer_amount": 300, "openid": OPENID}
        assert pay.query_transfer_bill(NO) == replace(bill, state=BillState.SUCCESS, package_info=None)
        assert pay.succeeded_total_fen() == 300
        assert pay.notifications_for(NO) == [notification]

    def test_a_rejected_transfer_fails_with_a_reason(self, pay: FakeWeChatPay) -> None:
        create(pay)
        notification = pay.reject(NO, "OPENID_INVALID")

        assert notification.resource["state"] == "FAIL"
        assert notification.resource["fail_reason"] == "OPENID_INVALID"
        queried = pay.query_transfer_bill(NO)
        assert queried is not None and (queried.state, queried.fail_reason) == (BillState.FAIL, "OPENID_INVALID")
        assert pay.succeeded_total_fen() == 0

    def test_only_a_waiting_bill_can_be_confirmed_or_rejected(self, pay: FakeWeChatPay) -> None:
        create(pay)
        pay.confirm(NO)
        with pytest.raises(ValueError, match="SUCCESS"):
            pay.confirm(NO)
        with pytest.raises(ValueError, match="SUCCESS"):
            pay.reject(NO)
        with pytest.raises(KeyError):
            pay.confirm("LLW999999")
        assert pay.succeeded_total_fen() == 300

    def test_each_callback_has_its_own_id(self, pay: FakeWeChatPay) -> None:
        ids = set()
        for n in range(5):
            create(pay, f"LLW00000{n}")
            ids.add((pay.confirm if n % 2 else pay.reject)(f"LLW00000{n}").notification_id)
        assert len(ids) == 5
        assert pay.succeeded_total_fen() == 2 * 300

    def test_a_waiting_bill_is_cancelled_with_a_callback(self, pay: FakeWeChatPay) -> None:
        bill = create(pay)

        cancelled = pay.cancel_transfer_bill(NO)

        assert cancelled == replace(bill, state=BillState.CANCELLED, package_info=None)
        assert pay.query_transfer_bill(NO) == cancelled
        assert [n.resource["state"] for n in pay.notifications_for(NO)] == ["CANCELLED"]
        # cancelling again is fine and sends nothing more
        assert pay.cancel_transfer_bill(NO) == cancelled
        assert len(pay.notifications_for(NO)) == 1

    def test_a_finished_or_unknown_bill_cannot_be_cancelled(self, pay: FakeWeChatPay) -> None:
        create(pay)
        pay.confirm(NO)
        with pytest.raises(PayoutRefused):
            pay.cancel_transfer_bill(NO)
        with pytest.raises(PayoutRefused):
            pay.cancel_transfer_bill("LLW999999")
        queried = pay.query_transfer_bill(NO)
        assert queried is not None and queried.state is BillState.SUCCESS
        assert pay.succeeded_total_fen() == 300


# ------------------------------------------------------------------------------------------- faults


class TestFaults:
    def test_an_answer_lost_after_the_bill_was_made_leaves_the_bill(self, pay: FakeWeChatPay) -> None:
        pay.fail_next("create", "ambiguous_after_success")

        with pytest.raises(PayoutAmbiguous):
            create(pay)

        found = pay.query_transfer_bill(NO)
        assert found is not None and found.state is BillState.WAIT_USER_CONFIRM
        assert create(pay) == found  # creating again with the same out_bill_no is the same bill
        assert len(pay.bills) == 1

    @pytest.mark.parametrize("mode", ["ambiguous_before", "down"])
    def test_a_create_that_never_arrived_is_ambiguous_and_made_nothing(self, pay: FakeWeChatPay,
                                                                       mode: FaultMode) -> None:
        pay.fail_next("create", mode)
        # "down" is ambiguous too: to the caller a request that never arrived is an answer lost (as the adapter)
        with pytest.raises(PayoutAmbiguous):
            create(pay)
        assert pay.query_transfer_bill(NO) is None
        assert create(pay).state is BillState.WAIT_USER_CONFIRM

    def test_a_refused_create_made_nothing(self, pay: FakeWeChatPay) -> None:
        pay.fail_next("create", "refuse")
        with pytest.raises(PayoutRefused):
            create(pay)
        assert pay.bills == {}

    def test_a_fault_acts_once_and_faults_queue_up(self, pay: FakeWeChatPay) -> None:
        pay.fail_next("create", "refuse")
        pay.fail_next("create", "ambiguous_before")
        with pytest.raises(PayoutRefused):
            create(pay)
        with pytest.raises(PayoutAmbiguous):
            create(pay)
        assert create(pay).out_bill_no == NO
        assert pay.calls["create"] == 3

    @pytest.mark.parametrize("mode", ["ambiguous_before", "ambiguous_after_success", "down", "refuse"])
    def test_a_failed_query_is_unavailable_never_not_found(self, pay: FakeWeChatPay, mode: FaultMode) -> None:
        create(pay)
        pay.fail_next("query", mode)
        with pytest.raises(UpstreamUnavailable) as caught:
            pay.query_transfer_bill(NO)
        assert not isinstance(caught.value, PayoutAmbiguous)  # as the adapter: a read is never "ambiguous"
        assert pay.query_transfer_bill(NO) is not None

    def test_a_cancel_lost_after_it_was_done_still_cancelled(self, pay: FakeWeChatPay) -> None:
        create(pay)
        pay.fail_next("cancel", "ambiguous_after_success")
        with pytest.raises(UpstreamUnavailable):
            pay.cancel_transfer_bill(NO)
        queried = pay.query_transfer_bill(NO)
        assert queried is not None and queried.state is BillState.CANCELLED

    @pytest.mark.parametrize(("mode", "error"), [("ambiguous_before", UpstreamUnavailable),
                                                 ("down", UpstreamUnavailable), ("refuse", PayoutRefused)])
    def test_a_cancel_that_failed_before_changed_nothing(self, pay: FakeWeChatPay, mode: FaultMode,
                                                         error: type[Exception]) -> None:
        create(pay)
        pay.fail_next("cancel", mode)
        with pytest.raises(error):
            pay.cancel_transfer_bill(NO)
        queried = pay.query_transfer_bill(NO)
        assert queried is not None and queried.state is BillState.WAIT_USER_CONFIRM
        assert pay.notifications_for(NO) == []

    def test_unknown_faults_are_a_test_bug(self, pay: FakeWeChatPay) -> None:
        with pytest.raises(ValueError, match="operation"):
            pay.fail_next("refund", "down")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="mode"):
            pay.fail_next("create", "slow")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- callbacks


class TestCallbacks:
    @pytest.fixture
    def notification(self, pay: FakeWeChatPay) -> PayNotification:
        create(pay)
        return pay.confirm(NO)

    def test_a_signed_callback_verifies_to_the_notification(self, pay: FakeWeChatPay,
                                                            notification: PayNotification) -> None:
        headers, body = pay.signed(notification, NOW_S)
        assert pay.verify_notification(headers, body, NOW_S) == notification
        # headers arrive in any case
        upper = {name.upper(): value for name, value in headers.items()}
        assert pay.verify_notification(upper, body, NOW_S) == notification

    @pytest.mark.parametrize("skew", [-CLOCK_SKEW_S, CLOCK_SKEW_S])
    def test_five_minutes_of_clock_skew_are_accepted(self, pay: FakeWeChatPay, notification: PayNotification,
                                                     skew: int) -> None:
        headers, body = pay.signed(notification, NOW_S)
        assert pay.verify_notification(headers, body, NOW_S + skew) == notification

    @pytest.mark.parametrize("skew", [-CLOCK_SKEW_S - 1, CLOCK_SKEW_S + 1, 86_400])
    def test_a_stale_or_future_callback_is_rejected(self, pay: FakeWeChatPay, notification: PayNotification,
                                                    skew: int) -> None:
        headers, body = pay.signed(notification, NOW_S)
        with pytest.raises(CallbackRejected):
            pay.verify_notification(headers, body, NOW_S + skew)

    def test_a_forged_callback_is_rejected(self, pay: FakeWeChatPay, notification: PayNotification) -> None:
        headers, body = pay.forged(notification, NOW_S)
        with pytest.raises(CallbackRejected):
            pay.verify_notification(headers, body, NOW_S)

    def test_another_merchant_platform_cannot_sign_for_ours(self, notification: PayNotification) -> None:
        other = FakeWeChatPay(secret=b"another-merchant-secret")
        headers, body = other.signed(notification, NOW_S)
        with pytest.raises(CallbackRejected):
            FakeWeChatPay().verify_notification(headers, body, NOW_S)

    def test_a_changed_body_is_rejected(self, pay: FakeWeChatPay, notification: PayNotification) -> None:
        headers, body = pay.signed(notification, NOW_S)
        raised = body.replace(b'"transfer_amount": 300', b'"transfer_amount": 30000')
        assert raised != body
        with pytest.raises(CallbackRejected):
            pay.verify_notification(headers, raised, NOW_S)

    def test_a_replayed_signature_with_a_fresh_timestamp_is_rejected(self, pay: FakeWeChatPay,
                                                                     notification: PayNotification) -> None:
        headers, body = pay.signed(notification, NOW_S - 3_600)
        with pytest.raises(CallbackRejected):
            pay.verify_notification({**headers, TIMESTAMP_HEADER: str(NOW_S)}, body, NOW_S)

    @pytest.mark.parametrize("header", [SIGNATURE_HEADER, TIMESTAMP_HEADER, "wechatpay-nonce", "wechatpay-serial"])
    def test_a_callback_missing_a_header_is_rejected(self, pay: FakeWeChatPay, notification: PayNotification,
                                                     header: str) -> None:
        headers, body = pay.signed(notification, NOW_S)
        del headers[header]
        with pytest.raises(CallbackRejected):
            pay.verify_notification(headers, body, NOW_S)

    def test_an_unknown_serial_is_rejected(self, pay: FakeWeChatPay, notification: PayNotification) -> None:
        headers, body = pay.signed(notification, NOW_S)
        with pytest.raises(CallbackRejected):
            pay.verify_notification({**headers, "wechatpay-serial": "PUB_KEY_ID_OTHER"}, body, NOW_S)

    @pytest.mark.parametrize("body", [b"not json", b"[]", b'{"event_type": "X", "resource": {}}',
                                      b'{"id": "", "event_type": "X", "resource": {}}',
                                      b'{"id": "EV-1", "event_type": "X", "resource": "plain"}'])
    def test_a_signed_but_malformed_callback_is_rejected(self, pay: FakeWeChatPay, body: bytes) -> None:
        with pytest.raises(CallbackRejected):
            pay.verify_notification(pay.sign(body, NOW_S), body, NOW_S)

    def test_any_well_formed_signed_body_verifies(self, pay: FakeWeChatPay) -> None:
        body = json.dumps({"id": "EV-9", "event_type": "OTHER.EVENT", "resource": {"x": 1}}).encode()
        assert pay.verify_notification(pay.sign(body, NOW_S), body, NOW_S) == PayNotification(
            "EV-9", "OTHER.EVENT", {"x": 1})
