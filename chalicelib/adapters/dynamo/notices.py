"""Notices and the community's TV record."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from chalicelib.adapters.dynamo import txn
from chalicelib.adapters.dynamo.models import HubItem
from chalicelib.adapters.dynamo.notices_models import EXPIRED_KEPT_S, NoticeItem, TvInfoItem, notices_of, tv_key
from chalicelib.domain.notices import Notice, ServicePhone, TvInfo
from chalicelib.ports import OutboxEvent


def _notice(data: dict[str, Any]) -> Notice:
    return Notice(**{**data, "buildings": tuple(data.get("buildings") or ())})


class DynamoNoticeBoard:
    def publish(self, notice: Notice, event: OutboxEvent) -> None:
        data = {**asdict(notice), "buildings": list(notice.buildings)}
        expires = notice.expires_at_ms // 1000 + EXPIRED_KEPT_S if notice.expires_at_ms else None
        with txn.write() as tw:
            tw.save(NoticeItem(notices_of(notice.community_id), notice.notice_id, data=data, expires_at=expires),
                    condition=HubItem.pk.does_not_exist())
            tw.save(txn.outbox_item(event, notice.published_at_ms))

    def get(self, community_id: str, notice_id: str) -> Notice | None:
        try:
            return _notice(dict(NoticeItem.get(notices_of(community_id), notice_id, consistent_read=True).data))
        except NoticeItem.DoesNotExist:
            return None

    def remove(self, notice: Notice, event: OutboxEvent, now_ms: int) -> None:
        with txn.write() as tw:
            tw.delete(NoticeItem(notices_of(notice.community_id), notice.notice_id))
            tw.save(txn.outbox_item(event, now_ms))

    def list_for_community(self, community_id: str, limit: int) -> list[Notice]:
        found = NoticeItem.query(notices_of(community_id), scan_index_forward=False, limit=limit)
        return [_notice(dict(i.data)) for i in found if isinstance(i, NoticeItem)]

    def tv_info(self, community_id: str) -> TvInfo | None:
        try:
            data = dict(TvInfoItem.get(*tv_key(community_id)).data)
        except TvInfoItem.DoesNotExist:
            return None
        phones = tuple(ServicePhone(**p) for p in data.get("service_phones") or ())
        return TvInfo(service_phones=phones, weather_note=str(data.get("weather_note") or ""))

    def set_tv_info(self, community_id: str, info: TvInfo) -> None:
        data = {"service_phones": [asdict(p) for p in info.service_phones], "weather_note": info.weather_note}
        TvInfoItem(*tv_key(community_id), data=data).save()
