"""Telling residents what happened to their money (WeChat one-time subscribe messages)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.errors import BadInput
from chalicelib.services.deps import Deps

CATEGORY_NAMES = {"paper": "纸类", "plastic": "塑料", "metal": "金属", "bottle": "饮料瓶", "textile": "织物"}
CHINA = timedelta(hours=8)


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}元"


def notify_credit(deps: Deps, data: Mapping[str, Any]) -> str:
    """"回收到账": what was weighed and what it paid. A resident who has not granted the template
    (errcode 43101) is not an error to retry; WeChat being down is, and the stream retries it —
    retrying a send never credits again, the credit was committed before this event existed."""
    resident = deps.residents.get(str(data["resident_id"]))
    if resident is None:
        return "resident gone"
    at = datetime.fromtimestamp(int(data["at_ms"]) / 1000, tz=UTC) + CHINA
    message = {
        "thing1": {"value": f"{CATEGORY_NAMES.get(str(data['category']), data['category'])} "
                            f"{int(data['weight_g']) / 1000:.2f}kg"},
        "amount2": {"value": yuan(int(data["credit_fen"]))},
        "time3": {"value": at.strftime("%Y-%m-%d %H:%M")},
        "thing4": {"value": "回收到账"},
    }
    try:
        deps.wechat.send_subscribe_message(resident.openid, deps.credit_template_id, message,
                                           page="pages/wallet/index")
    except BadInput as refused:
        return f"not sent: {refused.code}"
    return "sent"


ORDER_STATUS_NAMES = {"offered": "已派单", "accepted": "已接单", "in_progress": "服务中", "completed": "已完成",
                      "declined": "转物业处理", "expired": "转物业处理", "cancelled": "已取消", "refunded": "已退款"}


def notify_order(deps: Deps, data: Mapping[str, Any]) -> str:
    """"订单状态": the resident hears of every step of their order. Same retry rules as credits."""
    resident = deps.residents.get(str(data["resident_id"]))
    if resident is None:
        return "resident gone"
    status = str(data["status"])
    message = {"thing1": {"value": str(data.get("service_name", ""))[:20]},
               "phrase2": {"value": ORDER_STATUS_NAMES.get(status, status)},
               "character_string3": {"value": str(data["order_id"])[-32:]}}
    try:
        deps.wechat.send_subscribe_message(resident.openid, deps.order_template_id, message,
                                           page=f"pages/orders/detail?id={data['order_id']}")
    except BadInput as refused:
        return f"not sent: {refused.code}"
    return "sent"
