"""Sandboxes for the outside systems the hub talks to (WeChat now; WeChat Pay and Stripe later).

``SandboxServer`` is the HTTP plumbing; each outside system is a module that registers its routes::

    server = SandboxServer(port=8010, modules=[WeChatSandbox(appid, secret)])
    server.start()          # listening on 127.0.0.1:<server.port>
    ...
    server.stop()
"""

from localcloud.sandbox.faults import Fault, Faults
from localcloud.sandbox.routing import HttpError, Request, Response, Router, json_response
from localcloud.sandbox.server import SandboxModule, SandboxServer
from localcloud.sandbox.wechat import DEFAULT_APPID, DEFAULT_SECRET, WeChatSandbox

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
    "WeChatSandbox",
    "json_response",
]
