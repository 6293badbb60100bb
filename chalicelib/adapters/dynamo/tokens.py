"""The WeChat access token, shared by every container through the hub table."""

from __future__ import annotations

from chalicelib.adapters.dynamo.models import WeChatTokenItem


class DynamoTokenStore:
    def get(self, appid: str) -> tuple[str, int] | None:
        try:
            item = WeChatTokenItem.get("WECHAT#TOKEN", appid, consistent_read=True)
        except WeChatTokenItem.DoesNotExist:
            return None
        return item.token, int(item.expires_at_s)

    def put(self, appid: str, token: str, expires_at_s: int) -> None:
        WeChatTokenItem("WECHAT#TOKEN", appid, token=token, expires_at_s=expires_at_s,
                        expires_at=expires_at_s + 60).save()
