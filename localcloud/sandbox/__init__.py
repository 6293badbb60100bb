"""Sandboxes for the outside systems the hub talks to (WeChat, WeChat Pay, Stripe).

``SandboxServer`` is the HTTP plumbing; each outside system is a module that registers its routes::

    credentials = generate_wechatpay_credentials(appid)   # .secret is what the hub gets
    server = SandboxServer(port=8010, modules=[WeChatSandbox(appid, secret),
                                               WeChatPaySandbox(**credentials.sandbox)])
    server.start()          # listening on 127.0.0.1:<server.port>
    ...
    server.stop()
"""

from localcloud.sandbox.faults import Fault, Faults
from localcloud.sandbox.routing import HttpError, Request, Response, Router, json_response
from localcloud.sandbox.server import SandboxModule, SandboxServer
from localcloud.sandbox.stripe import StripeSandbox
from localcloud.sandbox.wechat import DEFAULT_APPID, DEFAULT_SECRET, WeChatSandbox
from localcloud.sandbox.wechatpay import WeChatPaySandbox
from localcloud.sandbox.wechatpay_keys import WeChatPayCredentials, generate_wechatpay_credentials

__all__ = [
    "DEFAULT_APPID",
    "DEFAULT_SECRET",
    "Fault",
    "Faults",
    "HttpError",
    "Request",
    "Response",
    "Router",
    "SandboxModule",
    "SandboxServer",
    "StripeSandbox",
    "WeChatPayCredentials",
    "WeChatPaySandbox",
    "WeChatSandbox",
    "generate_wechatpay_credentials",
    "json_response",
]
