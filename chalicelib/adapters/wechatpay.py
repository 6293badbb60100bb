"""WeChat Pay v3 through wechatpayv3: merchant transfers (商家转账 transfer bills), JSAPI payments and
refunds (``wechatpay_jsapi``), and the callbacks of all three.

``WeChatPayClient`` is ``ports.WeChatPay`` and ``ports.WeChatJsapi``; credentials, the lazily built
wechatpayv3 client and sending live in ``wechatpay_core`` (importing these modules costs nothing at cold
start).

Outcomes of creating a bill (DESIGN §4): an answer lost in any way — timeout, connection error, 5xx, 429,
a 2xx whose signature does not verify — is ``PayoutAmbiguous`` (query by ``out_bill_no``, never create a
second bill); a 4xx from WeChat, or a request this adapter never sent, is ``PayoutRefused``.

Callbacks: a ``Wechatpay-Serial`` that is not the configured public key id would make wechatpayv3 download
platform certificates (a network call, and the serial parsed as hex), and it never checks the callback's
timestamp: the adapter checks serial, signature type and timestamp (±300 s) itself, before anything else,
and then verifies and decrypts with the library's primitives (``wechatpayv3.utils``). The same check serves
MCHTRANSFER.BILL.FINISHED, TRANSACTION.SUCCESS and REFUND.SUCCESS / ABNORMAL / CLOSED.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.adapters.wechatpay_core import CREDENTIAL_KEYS, WECHATPAY_API_BASE, log
from chalicelib.adapters.wechatpay_jsapi import WeChatJsapiCalls
from chalicelib.domain.errors import CallbackRejected, PayoutAmbiguous, PayoutRefused, UpstreamUnavailable
from chalicelib.ports import BillState, Clock, PayNotification, TransferBill

__all__ = ["CREDENTIAL_KEYS", "WECHATPAY_API_BASE", "WeChatPayClient"]

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
CALLBACK_WINDOW_S = 300
OUT_BILL_NO = re.compile(r"[A-Za-z0-9]{5,32}")
#: scene 1000 (现金营销): what the resident sees, and the report infos WeChat requires for the scene
SCENE_DEFAULTS: Mapping[str, tuple[str, tuple[Mapping[str, str], ...]]] = {
    "1000": ("现金奖励", ({"info_type": "活动名称", "info_content": "垃圾分类回收奖励"},
                         {"info_type": "奖励说明", "info_content": "社区回收物称重返现提现"})),
}


class WeChatPayClient(WeChatJsapiCalls):
    """``ports.WeChatPay`` and ``ports.WeChatJsapi`` against WeChat Pay (or the sandbox, via ``api_base``)."""

    def __init__(
        self,
        credentials: Mapping[str, Any],
        api_base: str = WECHATPAY_API_BASE,
        notify_url: str | None = None,
        timeout_s: float = 5.0,
        transfer_scene_id: str = "1000",
        *,
        user_recv_perception: str | None = None,
        scene_report_infos: Sequence[Mapping[str, str]] | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(credentials, api_base, notify_url, timeout_s, clock=clock)
        self.transfer_scene_id = transfer_scene_id
        perception, infos = SCENE_DEFAULTS.get(transfer_scene_id, (None, ()))
        self.user_recv_perception = user_recv_perception or perception
        self.scene_report_infos = [dict(i) for i in (scene_report_infos if scene_report_infos is not None else infos)]

    # ------------------------------------------------------------------------------ port methods
    def create_transfer_bill(self, out_bill_no: str, openid: str, amount_fen: int, remark: str) -> TransferBill:
        what = f"create transfer bill {out_bill_no}"
        problem = _bad_create_input(out_bill_no, openid, amount_fen, remark)
        if problem:
            raise PayoutRefused(f"WeChat Pay {what}: not sent, {problem}")
        try:
            pay = self._client()
        except Exception as exc:
            raise PayoutRefused(f"WeChat Pay {what}: not sent, credentials unusable ({type(exc).__name__})") from exc
        answer = self._send(what, lambda: pay.mch_transfer_bills(
            out_bill_no=out_bill_no, transfer_scene_id=self.transfer_scene_id, openid=openid,
            transfer_amount=amount_fen, transfer_remark=remark, user_recv_perception=self.user_recv_perception,
            transfer_scene_report_infos=self.scene_report_infos, notify_url=self.notify_url,
        ))
        if answer.refused:
            log.warning("wechatpay %s refused: %s", what, answer.describe())
            raise PayoutRefused(f"WeChat Pay refused to {what}: {answer.describe()}")
        if not answer.ok:
            raise PayoutAmbiguous(f"WeChat Pay {what}: answer lost ({answer.describe()}); query the bill")
        bill = _bill(answer.data, out_bill_no, amount_fen)
        if bill is None:
            raise PayoutAmbiguous(f"WeChat Pay {what}: unexpected answer; query the bill")
        log.info("wechatpay %s: %s (%s)", what, bill.state, bill.transfer_bill_no)
        return bill

    def query_transfer_bill(self, out_bill_no: str) -> TransferBill | None:
        what = f"query transfer bill {out_bill_no}"
        if not isinstance(out_bill_no, str) or not OUT_BILL_NO.fullmatch(out_bill_no):
            return None  # WeChat could not hold a bill by that number
        answer = self._send(what, lambda: self._client().mch_transfer_bills_query(out_bill_no=out_bill_no))
        if answer.status == 404 and answer.code == "NOT_FOUND":
            return None
        if not answer.ok:
            raise UpstreamUnavailable(f"WeChat Pay {what} failed: {answer.describe()}")
        bill = _bill(answer.data, out_bill_no, answer.data.get("transfer_amount"))
        if bill is None:
            raise UpstreamUnavailable(f"WeChat Pay {what}: unexpected answer")
        return bill

    def cancel_transfer_bill(self, out_bill_no: str) -> TransferBill:
        """Ask WeChat to cancel a bill the resident has not confirmed; the bill as WeChat then reports it.

        WeChat answers CANCELING (no amount), the callback later says CANCELLED: the adapter reads the bill
        back. ``PayoutRefused`` when WeChat says no (not found, already final), ``UpstreamUnavailable`` when
        it could not be asked.
        """
        what = f"cancel transfer bill {out_bill_no}"
        if not isinstance(out_bill_no, str) or not OUT_BILL_NO.fullmatch(out_bill_no):
            raise PayoutRefused(f"WeChat Pay {what}: not sent, out_bill_no must be 5-32 letters or digits")
        answer = self._send(what, lambda: self._client().mch_transfer_bills_cancel(out_bill_no=out_bill_no))
        if answer.refused:
            raise PayoutRefused(f"WeChat Pay refused to {what}: {answer.describe()}")
        if not answer.ok:
            raise UpstreamUnavailable(f"WeChat Pay {what} failed: {answer.describe()}")
        bill = self.query_transfer_bill(out_bill_no)
        if bill is None:
            raise UpstreamUnavailable(f"WeChat Pay {what}: cancelled, but the bill is not found")
        return bill

    def verify_notification(self, headers: Mapping[str, str], body: bytes, now_s: int) -> PayNotification:
        h = {str(k).lower(): str(v) for k, v in headers.items()}
        serial, timestamp = h.get("wechatpay-serial", ""), h.get("wechatpay-timestamp", "")
        nonce, signature = h.get("wechatpay-nonce", ""), h.get("wechatpay-signature", "")
        if serial != self.public_key_id:
            raise CallbackRejected("WeChat Pay callback: Wechatpay-Serial is not our WeChat Pay public key id")
        if h.get("wechatpay-signature-type", "") != SIGNATURE_TYPE:
            raise CallbackRejected(f"WeChat Pay callback: Wechatpay-Signature-Type is not {SIGNATURE_TYPE}")
        if not timestamp.isdigit() or len(timestamp) > 12 or not nonce or not signature:
            raise CallbackRejected("WeChat Pay callback: Wechatpay-Timestamp, -Nonce or -Signature missing")
        if abs(int(timestamp) - now_s) > CALLBACK_WINDOW_S:
            raise CallbackRejected(f"WeChat Pay callback: timestamp outside ±{CALLBACK_WINDOW_S} s of now")
        if not isinstance(body, bytes | bytearray):
            raise CallbackRejected("WeChat Pay callback: body must be bytes")
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CallbackRejected("WeChat Pay callback: body is not UTF-8") from exc
        from wechatpayv3.utils import aes_decrypt, rsa_verify

        try:
            platform_key = self._platform_key()
        except Exception as exc:  # wechatpayv3 raises a bare Exception for a bad PEM
            log.error("wechatpay: the configured WeChat Pay public key does not load")
            raise CallbackRejected("WeChat Pay callback: our WeChat Pay public key is unusable") from exc
        if not rsa_verify(timestamp, nonce, text, signature, platform_key):
            raise CallbackRejected("WeChat Pay callback: signature does not verify")
        try:
            envelope = json.loads(text)
            resource = envelope["resource"]
            if envelope.get("resource_type") != "encrypt-resource" or resource.get("algorithm") != "AEAD_AES_256_GCM":
                raise CallbackRejected("WeChat Pay callback: not an AEAD_AES_256_GCM encrypt-resource")
            plain = aes_decrypt(nonce=resource["nonce"], ciphertext=resource["ciphertext"],
                                associated_data=resource.get("associated_data") or "",
                                apiv3_key=self._credentials["apiv3_key"])
            decrypted = json.loads(plain) if plain is not None else None
            notification_id, event_type = envelope["id"], envelope["event_type"]
        except CallbackRejected:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CallbackRejected(f"WeChat Pay callback: malformed ({type(exc).__name__})") from exc
        if plain is None:
            raise CallbackRejected("WeChat Pay callback: resource does not decrypt (tampered, or another APIv3 key)")
        if not isinstance(decrypted, dict) or not isinstance(notification_id, str) or not notification_id \
                or not isinstance(event_type, str):
            raise CallbackRejected("WeChat Pay callback: id, event_type or resource missing")
        return PayNotification(notification_id=notification_id, event_type=event_type, resource=decrypted)


def _bad_create_input(out_bill_no: Any, openid: Any, amount_fen: Any, remark: Any) -> str:
    """Why the request cannot be sent as asked (wechatpayv3 would raise on it), or ""."""
    if not isinstance(out_bill_no, str) or not OUT_BILL_NO.fullmatch(out_bill_no):
        return "out_bill_no must be 5-32 letters or digits"
    if not isinstance(openid, str) or not openid:
        return "openid is missing"
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        return "amount_fen must be a positive integer"
    if not isinstance(remark, str) or not remark:
        return "remark is missing"
    return ""


def _bill(data: Mapping[str, Any], out_bill_no: str, amount_fen: Any) -> TransferBill | None:
    """The bill WeChat describes, or None when the answer is not about ``out_bill_no`` or malformed."""
    try:
        state = BillState(str(data.get("state")))
    except ValueError:
        return None
    if data.get("out_bill_no") != out_bill_no or not isinstance(amount_fen, int) or isinstance(amount_fen, bool):
        return None

    def text(key: str) -> str | None:
        value = data.get(key)
        return value if isinstance(value, str) and value else None

    return TransferBill(out_bill_no=out_bill_no, state=state, amount_fen=amount_fen,
                        transfer_bill_no=text("transfer_bill_no"), package_info=text("package_info"),
                        fail_reason=text("fail_reason"))
