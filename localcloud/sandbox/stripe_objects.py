"""What the Stripe sandbox does to its objects: PaymentIntents, charges, refunds, transfers, accounts, events.

No HTTP here: ``StripeSandbox`` authenticates, decodes parameters, dedupes by Idempotency-Key and holds its
lock around every call (this class is not thread-safe by itself). Parameter problems raise ``StripeError``;
state problems of the test helpers raise ``HttpError`` 404 / 409. Each change that Stripe would announce
calls ``emit(event_type, object)`` with the live object (the caller snapshots it).
"""

from __future__ import annotations

import copy
import secrets
import string
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from localcloud.sandbox.routing import HttpError
from localcloud.sandbox.stripe_form import (
    check_known,
    currency_param,
    expand_param,
    int_param,
    invalid,
    metadata_param,
    str_param,
)

KINDS = ("payment_intents", "charges", "refunds", "transfers", "accounts", "events")
#: a field that holds another object's id, and the kind of that object (what ``expand[]`` may replace)
REFERENCES = {"latest_charge": "charges", "charge": "charges", "payment_intent": "payment_intents",
              "destination": "accounts"}
PI_PARAMS = ("amount", "currency", "description", "metadata", "payment_method_types", "automatic_payment_methods",
             "statement_descriptor_suffix", "receipt_email", "expand")
REFUND_PARAMS = ("payment_intent", "charge", "amount", "metadata", "reason", "expand")
TRANSFER_PARAMS = ("amount", "currency", "destination", "metadata", "transfer_group", "description", "expand")
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
_ID_ALPHABET = string.ascii_letters + string.digits

Emit = Callable[[str, dict[str, Any]], None]


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


class StripeObjects:
    """Objects by kind and id, in creation order."""

    def __init__(self, emit: Emit, refund_status: str = "succeeded") -> None:
        self._objects: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self._emit = emit
        self.refund_status = refund_status

    # ------------------------------------------------------------------------------ storage
    def add(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` (keyed by its ``id``) and return it — the live object, for the caller to change."""
        self._objects[kind][obj["id"]] = obj
        return obj

    def live(self, kind: str, object_id: str) -> dict[str, Any] | None:
        return self._objects[kind].get(object_id)

    def get(self, kind: str, object_id: str) -> dict[str, Any] | None:
        found = self._objects[kind].get(object_id)
        return None if found is None else copy.deepcopy(found)

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(obj) for obj in self._objects[kind].values()]

    def view(self, kind: str, object_id: str, expand: Iterable[str] = ()) -> dict[str, Any]:
        """A copy of the object with each ``expand`` field's id replaced by the object it names."""
        view = copy.deepcopy(self._objects[kind][object_id])
        for field in expand:
            target = REFERENCES.get(field)
            referenced = view.get(field)
            if target is not None and isinstance(referenced, str):
                view[field] = self.get(target, referenced) or referenced
        return view

    def clear(self) -> None:
        for objects in self._objects.values():
            objects.clear()

    # ---------------------------------------------------------------------------- the API's creates
    def create_payment_intent(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """A card PaymentIntent waiting for the customer (``requires_payment_method``); and what to expand."""
        check_known(params, PI_PARAMS)
        expand = expand_param(params, ["latest_charge"])
        amount, currency = int_param(params, "amount"), currency_param(params)
        types = params.get("payment_method_types", ["card"])
        if not isinstance(types, list) or not types or any(t != "card" for t in types):
            raise invalid("The sandbox takes card payments only.", "payment_method_type_invalid",
                          "payment_method_types")
        description, metadata = str_param(params, "description", max_len=1000), metadata_param(params)
        intent_id = new_id("pi_")
        intent = self.add("payment_intents", {
            "id": intent_id, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
            "amount_received": 0, "capture_method": "automatic", "client_secret": f"{intent_id}_secret_{new_id('')}",
            "confirmation_method": "automatic", "created": int(time.time()), "currency": currency,
            "description": description, "last_payment_error": None, "latest_charge": None, "livemode": False,
            "metadata": metadata, "payment_method_types": types, "status": "requires_payment_method"})
        return intent, expand

    def create_refund(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Refund (part of) a succeeded charge: at most what is not refunded yet, by default all of it."""
        check_known(params, REFUND_PARAMS)
        expand = expand_param(params, ["charge", "payment_intent"])
        charge = self._refundable_charge(params)
        left = charge["amount"] - charge["amount_refunded"]
        if left <= 0:
            raise invalid(f"Charge {charge['id']} has already been refunded.", "charge_already_refunded")
        amount = int_param(params, "amount", required=False) or left
        if amount > left:
            raise invalid(f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                          "amount_too_large", "amount")
        reason = str_param(params, "reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise invalid(f"Invalid reason: must be one of {', '.join(REFUND_REASONS)}", "parameter_invalid_string",
                          "reason")
        refund = self.add("refunds", {
            "id": new_id("re_"), "object": "refund", "amount": amount, "charge": charge["id"],
            "created": int(time.time()), "currency": charge["currency"], "failure_reason": None,
            "metadata": metadata_param(params), "payment_intent": charge["payment_intent"], "reason": reason,
            "status": self.refund_status})
        self._count_refunded(charge, amount)  # Stripe counts pending refunds as refunded too
        self._emit("refund.created", refund)
        self._emit("charge.refunded", charge)
        return refund, expand

    def _refundable_charge(self, params: Mapping[str, Any]) -> dict[str, Any]:
        intent_id, charge_id = str_param(params, "payment_intent"), str_param(params, "charge")
        if intent_id is None and charge_id is None:
            raise invalid("One of the following params should be provided for this request: payment_intent or "
                          "charge.", "parameter_missing", "payment_intent")
        if intent_id is not None:
            intent = self.live("payment_intents", intent_id)
            if intent is None:
                raise invalid(f"No such payment_intent: '{intent_id}'", "resource_missing", "payment_intent")
            if intent["status"] != "succeeded" or intent["latest_charge"] is None:
                raise invalid(f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                              "charge_not_refundable", "payment_intent")
            charge_id = charge_id or intent["latest_charge"]
        charge = self.live("charges", charge_id or "")
        if charge is None:
            raise invalid(f"No such charge: '{charge_id}'", "resource_missing", "charge")
        return charge

    def create_transfer(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """A Connect transfer to ``destination``; any ``acct_...`` id is a connected account (recorded)."""
        check_known(params, TRANSFER_PARAMS)
        expand = expand_param(params, ["destination"])
        amount, currency = int_param(params, "amount"), currency_param(params)
        destination = str_param(params, "destination", required=True) or ""
        if not destination.startswith("acct_") or len(destination) <= len("acct_"):
            raise invalid(f"No such destination: '{destination}'", "resource_missing", "destination")
        description, group, metadata = (str_param(params, "description"), str_param(params, "transfer_group"),
                                        metadata_param(params))
        if self.live("accounts", destination) is None:
            self.add("accounts", {"id": destination, "object": "account", "type": "standard",
                                  "created": int(time.time())})
        transfer = self.add("transfers", {
            "id": new_id("tr_"), "object": "transfer", "amount": amount, "amount_reversed": 0,
            "created": int(time.time()), "currency": currency, "description": description,
            "destination": destination, "destination_payment": new_id("py_"), "livemode": False,
            "metadata": metadata, "reversed": False, "transfer_group": group})
        self._emit("transfer.created", transfer)
        return transfer, expand

    # ------------------------------------------------------------------------------- test helpers
    def succeed(self, payment_intent_id: str) -> dict[str, Any]:
        """The customer's card payment went through: a charge, ``succeeded``, ``payment_intent.succeeded``."""
        intent = self._payable(payment_intent_id)
        charge = self.add("charges", {
            "id": new_id("ch_"), "object": "charge", "amount": intent["amount"], "amount_captured": intent["amount"],
            "amount_refunded": 0, "captured": True, "currency": intent["currency"],
            "description": intent["description"], "metadata": dict(intent["metadata"]), "paid": True,
            "payment_intent": intent["id"], "refunded": False, "status": "succeeded", "created": int(time.time()),
            "livemode": False})
        intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=charge["id"],
                      last_payment_error=None)
        self._emit("payment_intent.succeeded", intent)
        return copy.deepcopy(intent)

    def fail(self, payment_intent_id: str) -> dict[str, Any]:
        """The card was declined: the PaymentIntent waits for another payment method, as at Stripe."""
        intent = self._payable(payment_intent_id)
        intent.update(status="requires_payment_method", last_payment_error={
            "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
            "message": "Your card was declined."})
        self._emit("payment_intent.payment_failed", intent)
        return copy.deepcopy(intent)

    def succeed_refund(self, refund_id: str) -> dict[str, Any]:
        refund = self._known("refunds", refund_id)
        if refund["status"] != "pending":
            raise HttpError(409, "bad_state", f"refund {refund_id} is {refund['status']}, not pending")
        refund["status"] = "succeeded"
        self._emit("refund.updated", refund)
        return copy.deepcopy(refund)

    def fail_refund(self, refund_id: str) -> dict[str, Any]:
        """The refund could not reach the card (closed, expired): ``failed``; the charge counts it no more."""
        refund = self._known("refunds", refund_id)
        if refund["status"] not in ("pending", "succeeded"):
            raise HttpError(409, "bad_state", f"refund {refund_id} is {refund['status']}")
        refund.update(status="failed", failure_reason="expired_or_canceled_card")
        charge = self.live("charges", refund["charge"])
        if charge is not None:
            self._count_refunded(charge, -refund["amount"])
        self._emit("refund.updated", refund)
        return copy.deepcopy(refund)

    def _payable(self, payment_intent_id: str) -> dict[str, Any]:
        intent = self._known("payment_intents", payment_intent_id)
        if intent["status"] in ("succeeded", "canceled"):
            raise HttpError(409, "bad_state", f"PaymentIntent {payment_intent_id} is {intent['status']}")
        return intent

    def _known(self, kind: str, object_id: str) -> dict[str, Any]:
        found = self.live(kind, object_id)
        if found is None:
            raise HttpError(404, "not_found", f"no {kind[:-1]} {object_id}")
        return found

    @staticmethod
    def _count_refunded(charge: dict[str, Any], amount: int) -> None:
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
