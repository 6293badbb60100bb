"""Payment providers calling back: WeChat Pay v3 and Stripe. Verified before anything is parsed; a
replay answers like the first delivery and changes nothing."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.http import Ctx, route
from chalicelib.observability import logger
from chalicelib.services import pay_callbacks

bp = Blueprint(__name__)


def _raw(ctx: Ctx) -> tuple[dict[str, str], bytes]:
    headers = {str(k).lower(): str(v) for k, v in dict(ctx.request.headers).items()}
    raw: str | bytes = ctx.request.raw_body or b""
    return headers, raw.encode() if isinstance(raw, str) else raw


@route(bp, "/callbacks/wechatpay", "POST", summary="WeChat Pay v3 notification (RSA-signed, AES-GCM resource)",
       auth=None)
def wechatpay_callback(ctx: Ctx) -> Response:
    headers, body = _raw(ctx)
    logger.info(f"wechatpay callback: {pay_callbacks.wechatpay(bootstrap.deps(), headers, body)}")
    return Response(body="", status_code=204)


@route(bp, "/callbacks/stripe", "POST", summary="Stripe webhook (Stripe-Signature, 300 s tolerance)", auth=None)
def stripe_callback(ctx: Ctx) -> Response:
    headers, body = _raw(ctx)
    outcome = pay_callbacks.stripe(bootstrap.deps(), headers.get("stripe-signature"), body)
    logger.info(f"stripe callback: {outcome}")
    return Response(body={"received": True}, status_code=200, headers={"Content-Type": "application/json"})
