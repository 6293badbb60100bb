"""The IoT policy stand-in for the local MQTT gateway: which client may publish, subscribe and receive what.

What ``${iot:Connection.Thing.ThingName}`` does in production (infra/template.yaml ``DevicePolicy``);
locally the MQTT client id is the thing name:

* a client may publish only to ``dt/linli/{community}/{its client id}/...``; anything else is not
  broadcast to subscribers (the rules engine still sees it, tagged with the real client id);
* a client may subscribe under ``cmd/`` only to ``cmd/linli/{community or +}/{its client id}/...``, and a
  ``cmd/`` message reaches only the client whose id is its thing-name level, whatever filter matched.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

log = logging.getLogger("localcloud.broker")
#: the hub's own MQTT user: it publishes device commands (IoT Data ``Publish`` in AWS, which no device
#: policy limits) and must present the password the stack generated at start
HUB_USERNAME = "linli-hub"


class ClientIdAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Accept connections without credentials: locally the MQTT client id is the device's identity.

    Unlike amqtt's AnonymousAuthPlugin it does not mark sessions anonymous, so persistent sessions
    (clean_session=False) keep QoS 1 commands for an offline device, as IoT Core does. Like IoT Core, a
    CONNECT whose last-will topic the client may not publish to is refused (amqtt broadcasts wills
    without a topic check, so this is where a forged command by will is stopped).
    """

    @dataclass
    class Config:
        hub_password: str = ""  # empty: nobody may connect as the hub

    async def authenticate(self, *, session: Any) -> bool:
        client_id = getattr(session, "client_id", None)
        if getattr(session, "username", None) == HUB_USERNAME:
            expected, given = str(self.config.hub_password), str(getattr(session, "password", None) or "")
            return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
        if getattr(session, "will_flag", False) and not may_publish(client_id, session.will_topic):
            log.info("IoT policy: client %r refused, may not publish its will to %r", client_id, session.will_topic)
            return False
        return True


def _levels(topic: str | None) -> list[str]:
    return topic.split("/") if topic else []


def may_publish(client_id: str | None, topic: str | None) -> bool:
    """IoT policy stand-in: publish only to ``dt/linli/{community}/{own thing name}/...``."""
    lv = _levels(topic)
    return bool(client_id) and len(lv) >= 4 and lv[:2] == ["dt", "linli"] and lv[3] == client_id


def may_subscribe(client_id: str | None, topic_filter: str | None) -> bool:
    """Under ``cmd/`` only ``cmd/linli/{community or +}/{own thing name}/...``; other filters are free."""
    lv = _levels(topic_filter)
    if not lv:
        return False
    if lv[0] != "cmd":
        return True
    return bool(client_id) and len(lv) >= 4 and lv[1] == "linli" and lv[2] != "#" and lv[3] == client_id


def may_receive(client_id: str | None, topic: str | None) -> bool:
    """A ``cmd/`` message goes only to the thing it names (``#`` subscribers included)."""
    lv = _levels(topic)
    if not lv:
        return False
    if lv[0] != "cmd":
        return True
    return bool(client_id) and len(lv) >= 4 and lv[1] == "linli" and lv[3] == client_id


class DevicePolicyPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """Topic access control standing in for the IoT policy. amqtt treats a None answer as a refusal."""

    async def topic_filtering(self, *, session: Any = None, topic: str | None = None, action: Any = None) -> bool:
        client_id = getattr(session, "client_id", None)
        if action == Action.PUBLISH and getattr(session, "username", None) == HUB_USERNAME:
            allowed = bool(topic) and str(topic).startswith("cmd/linli/")  # authenticated by password
        elif action == Action.PUBLISH:
            allowed = may_publish(client_id, topic)
        elif action == Action.SUBSCRIBE:
            allowed = may_subscribe(client_id, topic)
        elif action == Action.RECEIVE:
            allowed = may_receive(client_id, topic)
        else:
            allowed = False
        if not allowed and action != Action.RECEIVE:
            log.info("IoT policy: client %r may not %s %r", client_id, getattr(action, "value", action), topic)
        return allowed
