"""What residents and staff read: WeChat one-time subscribe messages, their SMS fallbacks, staff inbox lines.

Pure rendering; the channels (channel_residents, channel_staff) decide who gets what, and when.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.recycling import CHINA_UTC_OFFSET_MS
from chalicelib.ports import Notification
from chalicelib.services.deps import Deps

CATEGORY_NAMES = {"paper": "纸类", "plastic": "塑料", "metal": "金属", "bottle": "饮料瓶", "textile": "织物"}
SMS_SIGN = "【邻里】"
ORDER_STATUS_NAMES = {"offered": "已派单", "accepted": "已接单", "in_progress": "服务中", "completed": "已完成",
                      "declined": "转物业处理", "expired": "转物业处理", "cancelled": "已取消", "refunded": "已退款"}
SEVERITY_NAMES = {"critical": "紧急", "warning": "警告", "info": "提示"}


@dataclass(frozen=True)
class ResidentMessage:
    template_id: str
    data: dict[str, Any]
    page: str
    sms: str  # the same news as a text, when no subscribe message may be sent


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}元"


def china_time(at_ms: int) -> str:
    return datetime.fromtimestamp((at_ms + CHINA_UTC_OFFSET_MS) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _thing(value: object) -> dict[str, str]:
    return {"value": str(value)[:20]}  # WeChat's thing.DATA: at most 20 characters


def credit_message(deps: Deps, data: Mapping[str, Any]) -> ResidentMessage:
    """"回收到账": what was weighed and what it paid."""
    what = f"{CATEGORY_NAMES.get(str(data['category']), data['category'])} {int(data['weight_g']) / 1000:.2f}kg"
    paid = yuan(int(data["credit_fen"]))
    at = china_time(int(data["at_ms"]))
    return ResidentMessage(deps.credit_template_id,
                           {"thing1": {"value": what}, "amount2": {"value": paid}, "time3": {"value": at},
                            "thing4": {"value": "回收到账"}},
                           "pages/wallet/index", f"{SMS_SIGN}回收到账：{what}，{paid}已存入钱包（{at}）。")


def order_message(deps: Deps, data: Mapping[str, Any]) -> ResidentMessage:
    """"订单状态": the resident hears of every step of their order."""
    status = ORDER_STATUS_NAMES.get(str(data["status"]), str(data["status"]))
    service = str(data.get("service_name", ""))
    return ResidentMessage(deps.order_template_id,
                           {"thing1": _thing(service), "phrase2": {"value": status},
                            "character_string3": {"value": str(data["order_id"])[-32:]}},
                           f"pages/orders/detail?id={data['order_id']}",
                           f"{SMS_SIGN}您的订单（{service}）{status}。")


def alarm_message(deps: Deps, data: Mapping[str, Any], at_ms: int) -> ResidentMessage:
    """"漏水提醒" for a leak, "安全告警" for everything else that concerns a home."""
    heading = "漏水提醒" if "leak" in str(data.get("kind", "")) else "安全告警"
    severity = SEVERITY_NAMES.get(str(data.get("severity")), str(data.get("severity", "")))
    title = str(data.get("title", heading))
    return ResidentMessage(deps.notify.alarm_template_id,
                           {"thing1": _thing(title), "phrase2": {"value": severity},
                            "time3": {"value": china_time(at_ms)}, "thing4": {"value": heading}},
                           "pages/home/security", f"{SMS_SIGN}{heading}（{severity}）：{title}。物业已收到通知。")


def notice_message(deps: Deps, data: Mapping[str, Any], at_ms: int) -> ResidentMessage:
    title = str(data.get("title", ""))
    return ResidentMessage(deps.notify.notice_template_id,
                           {"thing1": _thing(title), "time2": {"value": china_time(at_ms)}},
                           "pages/notices/index", f"{SMS_SIGN}社区公告：{title}")


def resident_message(deps: Deps, note: Notification, at_ms: int) -> ResidentMessage | None:
    """The message of an event for residents; None for an event residents do not hear of."""
    if note.type == "recycling.credited":
        return credit_message(deps, note.data)
    if note.type == "order.updated":
        return order_message(deps, note.data)
    if note.type.startswith("alarm."):
        return alarm_message(deps, note.data, at_ms)
    if note.type == "notice.published":
        return notice_message(deps, note.data, at_ms)
    return None


def staff_text(note: Notification) -> str:
    """One line for the staff inbox (and the staff SMS)."""
    d = note.data
    if note.type.startswith("alarm."):
        severity = SEVERITY_NAMES.get(str(d.get("severity")), "")
        prefix = "告警升级" if note.type == "alarm.escalated" else "告警"
        return f"{prefix}（{severity}）：{d.get('title', d.get('kind', ''))} {d.get('subject', '')}".strip()
    if note.type == "task.opened":
        return f"清运任务：{d.get('location') or d.get('thing_name', '')} 已满 {d.get('fill_pct', '')}%"
    if note.type.startswith("order."):
        reason = {"order.escalated": "超时未处理", "order.staff_work": "需物业处理",
                  "order.refund_failed": "退款失败"}.get(note.type, note.type)
        return f"订单{reason}：{d.get('order_id', '')} {d.get('service_name', '')}".strip()
    if note.type == "partner.endpoint_disabled":
        return f"合作商接口已停用：{d.get('partner_id', '')} {d.get('reason', '')}".strip()
    return note.type
