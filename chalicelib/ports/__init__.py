"""Protocols for every outside system. Services talk to the world only through these.

One module per area (``chalicelib.ports.orders``, ``.payments`` …); every name is re-exported here, so
``from chalicelib.ports import Page`` keeps working. The re-exports are lazy (PEP 562): a name's module
is imported when the name is first asked for, so a function that needs the device ports does not import
the order, payment and webhook ones with them (cold start). Two lists name the exports: the imports under
``TYPE_CHECKING`` (what mypy sees: each a real class, re-exported as ``X as X``) and ``_SUBMODULES`` (what
runs); ``__all__`` comes from the second, and tests/unit/test_ports_exports.py resolves every name."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what mypy sees: the real classes, each re-exported explicitly (``X as X``)
    from chalicelib.ports.alarms import AlarmBook as AlarmBook
    from chalicelib.ports.alarms import BinWrite as BinWrite
    from chalicelib.ports.alarms import CleaningTaskBook as CleaningTaskBook
    from chalicelib.ports.alarms import DeviceHealthFlags as DeviceHealthFlags
    from chalicelib.ports.alarms import DoorBook as DoorBook
    from chalicelib.ports.alarms import HomeSecurityBook as HomeSecurityBook
    from chalicelib.ports.alarms import Timer as Timer
    from chalicelib.ports.alarms import TimerQueue as TimerQueue
    from chalicelib.ports.core import AppSecrets as AppSecrets
    from chalicelib.ports.core import Clock as Clock
    from chalicelib.ports.core import Communities as Communities
    from chalicelib.ports.core import DeviceEventStore as DeviceEventStore
    from chalicelib.ports.core import Devices as Devices
    from chalicelib.ports.core import IdempotencyReused as IdempotencyReused
    from chalicelib.ports.core import IdGenerator as IdGenerator
    from chalicelib.ports.core import OutboxEvent as OutboxEvent
    from chalicelib.ports.core import Page as Page
    from chalicelib.ports.core import RecordOutcome as RecordOutcome
    from chalicelib.ports.core import Rejects as Rejects
    from chalicelib.ports.core import Resident as Resident
    from chalicelib.ports.core import Residents as Residents
    from chalicelib.ports.core import SaveOutcome as SaveOutcome
    from chalicelib.ports.core import SecretStore as SecretStore
    from chalicelib.ports.core import T as T
    from chalicelib.ports.core import ThingRegistry as ThingRegistry
    from chalicelib.ports.core import WeChatMiniProgram as WeChatMiniProgram
    from chalicelib.ports.core import WeChatSession as WeChatSession
    from chalicelib.ports.money import BillState as BillState
    from chalicelib.ports.money import DailyCap as DailyCap
    from chalicelib.ports.money import Ledger as Ledger
    from chalicelib.ports.money import PayNotification as PayNotification
    from chalicelib.ports.money import RecyclingBook as RecyclingBook
    from chalicelib.ports.money import TransferBill as TransferBill
    from chalicelib.ports.money import WeChatPay as WeChatPay
    from chalicelib.ports.money import WeighinContext as WeighinContext
    from chalicelib.ports.money import WeighinOutcome as WeighinOutcome
    from chalicelib.ports.money import Withdrawals as Withdrawals
    from chalicelib.ports.notify import Contacts as Contacts
    from chalicelib.ports.notify import InboxItem as InboxItem
    from chalicelib.ports.notify import MessageHold as MessageHold
    from chalicelib.ports.notify import Notification as Notification
    from chalicelib.ports.notify import Notifier as Notifier
    from chalicelib.ports.notify import NotifyBook as NotifyBook
    from chalicelib.ports.notify import SmsSender as SmsSender
    from chalicelib.ports.orders import Catalog as Catalog
    from chalicelib.ports.orders import Orders as Orders
    from chalicelib.ports.orders import OrderWrite as OrderWrite
    from chalicelib.ports.orders import Partners as Partners
    from chalicelib.ports.orders import StaffRoster as StaffRoster
    from chalicelib.ports.payments import CardPayments as CardPayments
    from chalicelib.ports.payments import Charge as Charge
    from chalicelib.ports.payments import ChargeState as ChargeState
    from chalicelib.ports.payments import Refund as Refund
    from chalicelib.ports.payments import RefundState as RefundState
    from chalicelib.ports.payments import StripeEvent as StripeEvent
    from chalicelib.ports.payments import WeChatJsapi as WeChatJsapi
    from chalicelib.ports.usage import Commands as Commands
    from chalicelib.ports.usage import HouseholdBook as HouseholdBook
    from chalicelib.ports.usage import IrrigationBook as IrrigationBook
    from chalicelib.ports.usage import NoticeBoard as NoticeBoard
    from chalicelib.ports.usage import UsageBook as UsageBook
    from chalicelib.ports.webhooks import DeliveryAttempt as DeliveryAttempt
    from chalicelib.ports.webhooks import DeliveryQueue as DeliveryQueue
    from chalicelib.ports.webhooks import UrlGuard as UrlGuard
    from chalicelib.ports.webhooks import WebhookSigner as WebhookSigner
    from chalicelib.ports.webhooks import WebhookStore as WebhookStore
    from chalicelib.ports.webhooks import WebhookTransport as WebhookTransport

#: submodule → the names it defines that are re-exported here
_SUBMODULES: dict[str, tuple[str, ...]] = {
    "alarms": (
        "AlarmBook", "BinWrite", "CleaningTaskBook", "DeviceHealthFlags", "DoorBook", "HomeSecurityBook",
        "Timer", "TimerQueue",
    ),
    "core": (
        "AppSecrets", "Clock", "Communities", "DeviceEventStore", "Devices", "IdempotencyReused", "IdGenerator",
        "OutboxEvent", "Page", "RecordOutcome", "Rejects", "Resident", "Residents", "SaveOutcome",
        "SecretStore", "T", "ThingRegistry", "WeChatMiniProgram", "WeChatSession",
    ),
    "money": (
        "BillState", "DailyCap", "Ledger", "PayNotification", "RecyclingBook", "TransferBill", "WeChatPay",
        "WeighinContext", "WeighinOutcome", "Withdrawals",
    ),
    "notify": ("Contacts", "InboxItem", "MessageHold", "Notification", "Notifier", "NotifyBook", "SmsSender"),
    "orders": ("Catalog", "Orders", "OrderWrite", "Partners", "StaffRoster"),
    "payments": ("CardPayments", "Charge", "ChargeState", "Refund", "RefundState", "StripeEvent", "WeChatJsapi"),
    "usage": ("Commands", "HouseholdBook", "IrrigationBook", "NoticeBoard", "UsageBook"),
    "webhooks": ("DeliveryAttempt", "DeliveryQueue", "UrlGuard", "WebhookSigner", "WebhookStore", "WebhookTransport"),
}
_MODULE_OF = {name: module for module, names in _SUBMODULES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> object:
    """A re-exported name (its submodule imported now) or a submodule; cached on this module after."""
    module = _MODULE_OF.get(name)
    if module is not None:
        value: object = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

