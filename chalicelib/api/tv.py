"""The elderly feed (长者电视频道): a large-print page per community for the cable-TV channel.

Public and read-only (the channel's set-top box cannot log in); it shows only what is meant for the
whole community. Everything staff typed is HTML-escaped. The page reloads itself every minute.
"""

from __future__ import annotations

from html import escape

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.http import Ctx, route
from chalicelib.domain.errors import CommunityUnknown
from chalicelib.services import notices
from chalicelib.services.notices import TvPage
from chalicelib.services.notifications import china_time

bp = Blueprint(__name__)
REFRESH_S = 60
HEADERS: dict[str, str | list[str]] = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}

STYLE = """
body { background: #000; color: #fff; font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif;
       font-size: 48px; line-height: 1.4; margin: 40px; }
h1 { font-size: 72px; color: #ffd700; margin: 0 0 24px; }
h2 { font-size: 56px; color: #ffd700; border-bottom: 4px solid #ffd700; margin: 32px 0 16px; }
.notice { margin: 0 0 32px; } .notice h3 { font-size: 56px; margin: 0; } .phone { font-size: 56px; }
.time { font-size: 40px; color: #ccc; }
"""


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="{REFRESH_S}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>")


def render(page: TvPage, now_ms: int) -> str:
    e = escape
    items = "".join(f'<div class="notice"><h3>{e(n.title)}</h3><p>{e(n.body)}</p></div>' for n in page.notices)
    phones = "".join(f'<p class="phone">{e(p.name)}：{e(p.phone)}</p>' for p in page.info.service_phones)
    weather = f"<p>{e(page.info.weather_note)}</p>" if page.info.weather_note else "<p>暂无</p>"
    body = (f"<h1>{e(page.community.name)} · 社区公告</h1><p class=\"time\">更新时间 {china_time(now_ms)}</p>"
            f"<h2>通知公告</h2>{items or '<p>暂无通知</p>'}"
            f"<h2>服务电话</h2>{phones or '<p>暂无</p>'}"
            f"<h2>天气提示</h2>{weather}")
    return _page(f"{page.community.name} 社区公告", body)


@route(bp, "/tv/{cid}", "GET", summary="Large-print notices page for the community's TV channel (HTML)", auth=None)
def tv(ctx: Ctx, cid: str) -> Response:
    deps = bootstrap.deps()
    try:
        page = notices.tv_page(deps, cid)
    except CommunityUnknown:
        return Response(body=_page("未找到", "<h1>未找到该社区</h1><p>请检查频道设置。</p>"), status_code=404,
                        headers=HEADERS)
    return Response(body=render(page, deps.clock.now_ms()), status_code=200, headers=HEADERS)
