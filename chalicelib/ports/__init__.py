"""Protocols for every outside system. Services talk to the world only through these.

One module per area (``chalicelib.ports.orders``, ``.payments`` …); every name is re-exported here, so
``from chalicelib.ports import Page`` keeps working. The re-exports are lazy (PEP 562): a name's module
is imported when the name is first asked for, so a function that needs the device ports does not import
the order, payment and webhook ones with them (cold start)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.ports.alarms import (
        AlarmBook,
        BinWrite,
        CleaningTaskBook,
        DeviceHealthFlags,
        DoorBook,
        HomeSecurityBook,
        Timer,
        TimerQueue,
    )
    from chalicelib.ports.core import (
        AppSecrets,
        Clock,
        Communities,
        DeviceEventStore,
        Devices,
        IdempotencyReused,
        IdGenerator,
        OutboxEvent,
        Page,
        RecordOutcome,
        Rejects,
        Resident,
        Residents,
        SaveOutcome,
        SecretStore,
        T,
        ThingRegistry,
        WeChatMiniProgram,
        WeChatSession,
    )
    from chalicelib.ports.money import (
        BillState,
        DailyCap,
        Ledger,
        PayNotification,
        RecyclingBook,
        TransferBill,
        WeChatPay,
        WeighinContext,
        WeighinOutcome,
        Withdrawals,
    )
    from chalicelib.ports.notify import (
        Contacts,
        InboxItem,
        MessageHold,
        Notification,
        Notifier,
        NotifyBook,
        SmsSender,
    )
    from chalicelib.ports.orders import (
        Catalog,
        Orders,
        OrderWrite,
        Partners,
        StaffRoster,
    )
    from chalicelib.ports.payments import (
        CardPayments,
        Charge,
        ChargeState,
        Refund,
        RefundState,
        StripeEvent,
        WeChatJsapi,
    )
    from chalicelib.ports.usage import (
        Commands,
        HouseholdBook,
        IrrigationBook,
        NoticeBoard,
        UsageBook,
    )
    from chalicelib.ports.webhooks import (
        DeliveryAttempt,
        DeliveryQueue,
        UrlGuard,
        WebhookSigner,
        WebhookStore,
        WebhookTransport,
    )

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


__all__ = [
    "AlarmBook",
    "AppSecrets",
    "BillState",
    "BinWrite",
    "CardPayments",
    "Catalog",
    "Charge",
    "ChargeState",
    "CleaningTaskBook",
    "Clock",
    "Commands",
    "Communities",
    "Contacts",
    "DailyCap",
    "DeliveryAttempt",
    "DeliveryQueue",
    "DeviceEventStore",
    "DeviceHealthFlags",
    "Devices",
    "DoorBook",
    "HomeSecurityBook",
    "HouseholdBook",
    "IdGenerator",
    "IdempotencyReused",
    "InboxItem",
    "IrrigationBook",
    "Ledger",
    "MessageHold",
    "NoticeBoard",
    "Notification",
    "Notifier",
    "NotifyBook",
    "OrderWrite",
    "Orders",
    "OutboxEvent",
    "Page",
    "Partners",
    "PayNotification",
    "RecordOutcome",
    "RecyclingBook",
    "Refund",
    "RefundState",
    "Rejects",
    "Resident",
    "Residents",
    "SaveOutcome",
    "SecretStore",
    "SmsSender",
    "StaffRoster",
    "StripeEvent",
    "T",
    "ThingRegistry",
    "Timer",
    "TimerQueue",
    "TransferBill",
    "UrlGuard",
    "UsageBook",
    "WeChatJsapi",
    "WeChatMiniProgram",
    "WeChatPay",
    "WeChatSession",
    "WebhookSigner",
    "WebhookStore",
    "WebhookTransport",
    "WeighinContext",
    "WeighinOutcome",
    "Withdrawals",
]
