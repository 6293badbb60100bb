"""The HTTP API through ``chalice.test.Client`` against moto: real adapters, WeChat faked."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.api.http import ROUTES
from chalicelib.domain.identity import Principal, Role, issue_token
from chalicelib.services.deps import Deps
from localcloud.template import load_template
from tests.conftest import ADMIN_TOKEN, CURRENT_KID, PREVIOUS_KID, SIGNING_KEYS
from tests.support import events
from tests.support.fakes import FakeWeChat

ROOT = Path(__file__).resolve().parents[2]
COMMUNITIES = "/v1/admin/communities"


class Api:
    """A thin HTTP caller: JSON in, (status, JSON body, headers) out."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def __call__(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                 raw: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        response = self._client.http.request(method, path, headers=sent, body=(data or "").encode())
        text = response.body.decode() if isinstance(response.body, bytes) else response.body
        return response.status_code, json.loads(text) if text else None, dict(response.headers)

    def admin(self, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
        return self(method, path, body, token=ADMIN_TOKEN, **kwargs)


@pytest.fixture
def api(hub: Deps) -> Iterator[Api]:
    with Client(app, project_dir=str(ROOT)) as client:
        yield Api(client)


@pytest.fixture
def cid(api: Api) -> str:
    status, body, _ = api.admin("POST", COMMUNITIES, {"name": "Sunny Gardens"})
    assert status == 201
    return str(body["community_id"])


def assert_error(result: tuple[int, Any, dict[str, str]], status: int, code: str | None = None) -> None:
    got_status, body, _ = result
    assert got_status == status, body
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert re.fullmatch(r"[a-z][a-z0-9_]*", body["error"]["code"])
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code


def login(api: Api, openid: str) -> tuple[str, str]:
    status, body, _ = api("POST", "/v1/auth/wechat", {"code": f"sandbox-{openid}"})
    assert status == 200, body
    return str(body["token"]), str(body["resident_id"])


def b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


# ------------------------------------------------------------------------------------------ basics


def test_healthz_answers_ok(api: Api) -> None:
    assert api("GET", "/healthz")[:2] == (200, {"status": "ok"})


def test_openapi_describes_every_registered_route(api: Api) -> None:
    status, doc, _ = api("GET", "/openapi.json")
    assert status == 200
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"]
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    assert {(r.path, r.method) for r in ROUTES} <= documented
    served = {(path, method) for path, methods in app.routes.items() for method in methods}
    assert served == documented
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert method in {"get", "post", "put", "patch", "delete"}
            assert op["summary"] and op["responses"]
            assert any(code.startswith("2") for code in op["responses"])
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path))


def test_the_spec_documents_the_status_each_route_answers(api: Api) -> None:
    _, doc, _ = api("GET", "/openapi.json")
    assert "201" in doc["paths"][COMMUNITIES]["post"]["responses"]
    assert "401" in doc["paths"][COMMUNITIES]["post"]["responses"]
    assert "requestBody" in doc["paths"]["/v1/auth/wechat"]["post"]
    assert "security" not in doc["paths"]["/v1/auth/wechat"]["post"]


def test_an_unsupported_method_is_405_in_the_error_shape(api: Api) -> None:
    result = api("DELETE", "/healthz")
    assert_error(result, 405, "method_not_allowed")
    assert result[2].get("Allow") == "GET"
    assert_error(api.admin("PUT", COMMUNITIES, {"name": "x"}), 405)


def test_unknown_routes_are_answered_in_the_error_shape_when_deployed() -> None:
    """Unknown paths never reach the app: API Gateway answers them (403 "Missing Authentication Token" in
    {"message"} by default). The template must turn that into a 404 in the hub's error shape."""
    template = load_template()
    responses = [r["Properties"] for r in template["Resources"].values()
                 if r["Type"] == "AWS::ApiGateway::GatewayResponse"]
    for definition in (r.get("Properties", {}).get("DefinitionBody", {}) for r in template["Resources"].values()):
        for kind, spec in (definition or {}).get("x-amazon-apigateway-gateway-responses", {}).items():
            responses.append({"ResponseType": kind, "StatusCode": spec.get("statusCode"),
                              "ResponseTemplates": spec.get("responseTemplates", {})})
    missing_route = [r for r in responses if r.get("ResponseType") in ("MISSING_AUTHENTICATION_TOKEN", "DEFAULT_4XX")]
    assert missing_route, "no API Gateway response shapes unknown routes"
    for response in missing_route:
        templates = json.dumps(response.get("ResponseTemplates", {}))
        assert '\\"error\\"' in templates and "code" in templates and "message" in templates
    assert any(str(r.get("StatusCode")) == "404" for r in missing_route
               if r.get("ResponseType") == "MISSING_AUTHENTICATION_TOKEN")


# ------------------------------------------------------------------------------ admin: communities


def test_creating_a_community_answers_201_and_it_can_be_read(api: Api) -> None:
    status, created, _ = api.admin("POST", COMMUNITIES, {"name": "  Sunny Gardens 阳光花园 "})
    assert status == 201
    assert created["name"] == "Sunny Gardens 阳光花园"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", created["created_at"])
    status, read, _ = api.admin("GET", f"{COMMUNITIES}/{created['community_id']}")
    assert (status, read) == (200, created)


def test_an_unknown_community_is_404_everywhere(api: Api) -> None:
    base = f"{COMMUNITIES}/c_nope"
    assert_error(api.admin("GET", base), 404, "community_not_found")
    assert_error(api.admin("POST", f"{base}/devices", {"thing_name": "bin-1", "type": "recycling_bin"}), 404,
                 "community_not_found")
    assert_error(api.admin("GET", f"{base}/devices"), 404, "community_not_found")
    assert_error(api.admin("GET", f"{base}/rejects"), 404, "community_not_found")
    assert_error(api.admin("POST", f"{base}/devices/bin-1/disable"), 404, "community_not_found")


@pytest.mark.parametrize(("raw", "code"), [
    ("{not json", "invalid_json"),
    ("", "missing_body"),
    ("null", "invalid_body"),
    ("[]", "invalid_body"),
    ('"Sunny"', "invalid_body"),
    ("{}", "invalid_body"),
    ('{"name": 42}', "invalid_body"),
    ('{"name": ["Sunny"]}', "invalid_body"),
    ('{"name": ""}', "invalid_body"),
    ('{"name": "Sunny", "admin": true}', "invalid_body"),
    ('{"name": "   "}', "invalid_name"),
])
def test_a_bad_body_is_400_and_creates_nothing(api: Api, raw: str, code: str) -> None:
    assert_error(api.admin("POST", COMMUNITIES, raw=raw), 400, code)


def test_a_missing_field_is_named_in_the_message(api: Api, cid: str) -> None:
    result = api.admin("POST", f"{COMMUNITIES}/{cid}/devices", {"thing_name": "bin-0001"})
    assert_error(result, 400, "invalid_body")
    assert "type" in result[1]["error"]["message"]
    assert api.admin("GET", f"{COMMUNITIES}/{cid}/devices")[1]["items"] == []


# --------------------------------------------------------------------------------- admin: devices


def test_a_registered_device_is_listed_and_can_be_disabled(api: Api, cid: str) -> None:
    status, registered, _ = api.admin("POST", f"{COMMUNITIES}/{cid}/devices",
                                      {"thing_name": "bin-0001", "type": "recycling_bin"})
    assert status == 201
    assert registered["thing_name"] == "bin-0001"
    assert registered["type"] == "recycling_bin"
    assert registered["status"] == "active"
    assert registered["last_seen"] is None

    status, listed, _ = api.admin("GET", f"{COMMUNITIES}/{cid}/devices")
    assert status == 200
    assert listed == {"items": [registered], "next_cursor": None}

    status, disabled, _ = api.admin("POST", f"{COMMUNITIES}/{cid}/devices/bin-0001/disable")
    assert status == 200
    assert disabled["status"] == "disabled"
    assert api.admin("GET", f"{COMMUNITIES}/{cid}/devices")[1]["items"][0]["status"] == "disabled"
    assert api.admin("GET", f"{COMMUNITIES}/{cid}/devices/bin-0001")[1]["status"] == "disabled"


def test_last_seen_is_an_iso_utc_time_once_the_device_spoke(api: Api, cid: str) -> None:
    api.admin("POST", f"{COMMUNITIES}/{cid}/devices", {"thing_name": "bin-0001", "type": "recycling_bin"})
    received_at = time.time_ns() // 1_000_000
    payload = events.device_payload("heartbeat", ts=received_at - 500)
    app.handler_map["handle_device_events"](
        events.sqs_device_event(payload, events.topic(cid, "bin-0001", "heartbeat"), "bin-0001", received_at), None)

    device = api.admin("GET", f"{COMMUNITIES}/{cid}/devices/bin-0001")[1]
    assert device["last_seen"].endswith("Z")
    assert device["last_event"]["kind"] == "heartbeat"


@pytest.mark.parametrize(("body", "code"), [
    ({"thing_name": "bin/0001", "type": "recycling_bin"}, "invalid_thing_name"),
    ({"thing_name": "bin-0001", "type": "toaster"}, "invalid_device_type"),
    ({"thing_name": "bin-0001", "type": 7}, "invalid_body"),
    ({"thing_name": "", "type": "door"}, "invalid_body"),
])
def test_a_bad_device_is_400(api: Api, cid: str, body: dict[str, Any], code: str) -> None:
    assert_error(api.admin("POST", f"{COMMUNITIES}/{cid}/devices", body), 400, code)


def test_registering_a_taken_thing_name_is_409(api: Api, cid: str) -> None:
    other = api.admin("POST", COMMUNITIES, {"name": "Other"})[1]["community_id"]
    api.admin("POST", f"{COMMUNITIES}/{cid}/devices", {"thing_name": "bin-0001", "type": "recycling_bin"})
    for community in (cid, other):
        assert_error(api.admin("POST", f"{COMMUNITIES}/{community}/devices",
                               {"thing_name": "bin-0001", "type": "trash_bin"}), 409, "device_already_registered")


def test_another_communitys_device_is_404(api: Api, cid: str) -> None:
    other = api.admin("POST", COMMUNITIES, {"name": "Other"})[1]["community_id"]
    api.admin("POST", f"{COMMUNITIES}/{other}/devices", {"thing_name": "their-bin", "type": "recycling_bin"})
    assert_error(api.admin("GET", f"{COMMUNITIES}/{cid}/devices/their-bin"), 404, "device_not_found")
    assert_error(api.admin("POST", f"{COMMUNITIES}/{cid}/devices/their-bin/disable"), 404, "device_not_found")
    assert api.admin("GET", f"{COMMUNITIES}/{other}/devices/their-bin")[1]["status"] == "active"


def test_devices_are_paged_with_a_cursor(api: Api, cid: str) -> None:
    names = [f"bin-{n:04d}" for n in range(5)]
    for name in names:
        api.admin("POST", f"{COMMUNITIES}/{cid}/devices", {"thing_name": name, "type": "recycling_bin"})
    seen: list[str] = []
    path = f"{COMMUNITIES}/{cid}/devices?limit=2"
    for _ in range(10):
        status, page, _ = api.admin("GET", path)
        assert status == 200
        assert len(page["items"]) <= 2
        seen += [d["thing_name"] for d in page["items"]]
        if page["next_cursor"] is None:
            break
        path = f"{COMMUNITIES}/{cid}/devices?limit=2&cursor={page['next_cursor']}"
    assert seen == names


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "2.5"])
def test_a_bad_limit_is_400(api: Api, cid: str, limit: str) -> None:
    assert_error(api.admin("GET", f"{COMMUNITIES}/{cid}/devices?limit={limit}"), 400, "invalid_limit")


def test_a_cursor_of_another_community_is_400(api: Api, cid: str) -> None:
    other = api.admin("POST", COMMUNITIES, {"name": "Other"})[1]["community_id"]
    for name in ("a", "b", "c"):
        api.admin("POST", f"{COMMUNITIES}/{other}/devices", {"thing_name": name, "type": "door"})
    cursor = api.admin("GET", f"{COMMUNITIES}/{other}/devices?limit=1")[1]["next_cursor"]
    assert_error(api.admin("GET", f"{COMMUNITIES}/{cid}/devices?cursor={cursor}"), 400, "invalid_cursor")


FORGED_CURSORS: dict[str, Callable[[str], str]] = {
    "not-base64-json": lambda cid: "garbage",
    "not-an-object": lambda cid: b64([1, 2]),
    "untyped-key": lambda cid: b64({"pk": f"REJECTS#{cid}"}),
    "key-is-a-list": lambda cid: b64({"pk": [f"REJECTS#{cid}"]}),
}


@pytest.mark.parametrize("forge", FORGED_CURSORS.values(), ids=FORGED_CURSORS.keys())
def test_a_forged_rejects_cursor_is_400_never_500(api: Api, cid: str, forge: Callable[[str], str]) -> None:
    assert_error(api.admin("GET", f"{COMMUNITIES}/{cid}/rejects?cursor={forge(cid)}"), 400, "invalid_cursor")


# --------------------------------------------------------------------------------- admin: rejects


def _send_weighin(cid: str, thing: str, event_id: str, received_at: int, **changes: Any) -> None:
    payload = events.device_payload("weighin", event_id=event_id, ts=received_at - 1_000, **changes)
    event = events.sqs_device_event(payload, events.topic(cid, thing, "weighin"), thing, received_at)
    assert app.handler_map["handle_device_events"](event, None) == {"batchItemFailures": []}


def test_rejected_messages_are_listed_newest_first(api: Api, cid: str) -> None:
    api.admin("POST", f"{COMMUNITIES}/{cid}/devices", {"thing_name": "bin-0001", "type": "recycling_bin"})
    now = time.time_ns() // 1_000_000
    _send_weighin(cid, "bin-9999", "w-1", now - 2_000)
    _send_weighin(cid, "bin-0001", "w-2", now - 1_000, weight_g=0)

    status, page, _ = api.admin("GET", f"{COMMUNITIES}/{cid}/rejects")

    assert status == 200
    assert page["next_cursor"] is None
    assert [(r["thing_name"], r["kind"], r["reason"]) for r in page["items"]] == [
        ("bin-0001", "weighin", "implausible_value"), ("bin-9999", "weighin", "unknown_device")]
    newest = page["items"][0]
    assert newest["received_at"].endswith("Z")
    assert newest["payload"]["event_id"] == "w-2"
    assert newest["payload"]["weight_g"] == 0


def test_rejected_weighins_never_show_a_residents_full_phone_number(api: Api, cid: str) -> None:
    """DESIGN §6: phone numbers are stored as a keyed hash and shown masked — reject records too."""
    _send_weighin(cid, "bin-9999", "w-1", time.time_ns() // 1_000_000, phone="13912345678")
    status, page, _ = api.admin("GET", f"{COMMUNITIES}/{cid}/rejects")
    assert status == 200
    assert len(page["items"]) == 1
    assert "13912345678" not in json.dumps(page)


# -------------------------------------------------------------------------------------- residents


def test_a_resident_logs_in_with_wechat_and_binds_a_phone(api: Api) -> None:
    status, body, _ = api("POST", "/v1/auth/wechat", {"code": "sandbox-openid-alice"})
    assert status == 200
    assert set(body) >= {"token", "resident_id", "expires_in"}
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    token = body["token"]

    status, me, _ = api("GET", "/v1/me", token=token)
    assert status == 200
    assert me["resident_id"] == body["resident_id"]
    assert me["phone_bound"] is False

    status, bound, _ = api("POST", "/v1/me/phone", {"code": "sandbox-phone-13800138000"}, token=token)
    assert status == 200
    assert bound["phone"] == "138****8000"
    assert bound["phone_bound"] is True
    assert "13800138000" not in json.dumps(bound)
    assert api("GET", "/v1/me", token=token)[1]["phone"] == "138****8000"


def test_logging_in_twice_is_the_same_resident(api: Api) -> None:
    assert login(api, "openid-alice")[1] == login(api, "openid-alice")[1]
    assert login(api, "openid-alice")[1] != login(api, "openid-bob")[1]


def test_a_code_wechat_refuses_is_400(api: Api) -> None:
    assert_error(api("POST", "/v1/auth/wechat", {"code": "made-up"}), 400, "invalid_code")
    assert_error(api("POST", "/v1/auth/wechat", {"code": ""}), 400, "invalid_body")
    assert_error(api("POST", "/v1/auth/wechat", {}), 400, "invalid_body")


def test_wechat_being_down_is_503_not_500(api: Api, fake_wechat: FakeWeChat) -> None:
    fake_wechat.down = True
    assert_error(api("POST", "/v1/auth/wechat", {"code": "sandbox-openid-alice"}), 503, "upstream_unavailable")


def test_a_phone_another_resident_holds_is_409(api: Api) -> None:
    alice, _ = login(api, "openid-alice")
    bob, _ = login(api, "openid-bob")
    assert api("POST", "/v1/me/phone", {"code": "sandbox-phone-13800138000"}, token=alice)[0] == 200
    assert_error(api("POST", "/v1/me/phone", {"code": "sandbox-phone-13800138000"}, token=bob), 409, "phone_taken")
    assert api("GET", "/v1/me", token=bob)[1]["phone_bound"] is False


def test_a_resident_with_a_phone_cannot_take_another_residents_phone(api: Api) -> None:
    alice, _ = login(api, "openid-alice")
    bob, _ = login(api, "openid-bob")
    api("POST", "/v1/me/phone", {"code": "sandbox-phone-13800138000"}, token=alice)
    api("POST", "/v1/me/phone", {"code": "sandbox-phone-13900139000"}, token=bob)

    assert_error(api("POST", "/v1/me/phone", {"code": "sandbox-phone-13800138000"}, token=bob), 409, "phone_taken")
    assert api("GET", "/v1/me", token=bob)[1]["phone"] == "139****9000"


def test_rebinding_moves_the_phone(api: Api) -> None:
    alice, _ = login(api, "openid-alice")
    bob, _ = login(api, "openid-bob")
    api("POST", "/v1/me/phone", {"code": "sandbox-phone-13800138000"}, token=alice)
    assert api("POST", "/v1/me/phone", {"code": "sandbox-phone-13900139000"}, token=alice)[1]["phone"] \
        == "139****9000"
    assert api("POST", "/v1/me/phone", {"code": "sandbox-phone-13800138000"}, token=bob)[0] == 200


def test_a_foreign_phone_number_cannot_be_bound(api: Api) -> None:
    alice, _ = login(api, "openid-alice")
    assert_error(api("POST", "/v1/me/phone", {"code": "sandbox-phone-85291234567"}, token=alice), 400,
                 "unsupported_phone")


# ------------------------------------------------------------------------------------------- auth


def test_a_resident_token_on_admin_routes_is_403(api: Api, cid: str) -> None:
    token, _ = login(api, "openid-alice")
    assert_error(api("POST", COMMUNITIES, {"name": "Mine now"}, token=token), 403, "forbidden")
    assert_error(api("GET", f"{COMMUNITIES}/{cid}/devices", token=token), 403, "forbidden")
    assert_error(api("GET", f"{COMMUNITIES}/{cid}/rejects", token=token), 403, "forbidden")


def test_the_admin_token_is_not_a_resident(api: Api) -> None:
    assert_error(api.admin("GET", "/v1/me"), 403, "forbidden")
    assert_error(api.admin("POST", "/v1/me/phone", {"code": "sandbox-phone-13800138000"}), 403, "forbidden")


def _resident_token(kid: str, key: str, now_s: int, ttl_s: int, subject: str) -> str:
    return issue_token(key.encode(), kid, Principal(role=Role.RESIDENT, subject=subject), now_s, ttl_s)


def test_missing_forged_or_expired_tokens_are_401(api: Api) -> None:
    token, rid = login(api, "openid-alice")
    now_s = int(time.time())
    forged = _resident_token(CURRENT_KID, "not-the-hubs-key", now_s, 3600, rid)
    expired = _resident_token(CURRENT_KID, SIGNING_KEYS[CURRENT_KID], now_s - 7200, 3600, rid)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    assert_error(api("GET", "/v1/me"), 401, "missing_token")
    for bad in (forged, tampered, "garbage", ADMIN_TOKEN + "x"):
        result = api("GET", "/v1/me", token=bad)
        assert_error(result, 401, "invalid_token")
        assert result[2].get("WWW-Authenticate") == "Bearer"
    assert_error(api("GET", "/v1/me", token=expired), 401, "token_expired")
    assert_error(api("GET", "/v1/me", headers={"Authorization": f"Basic {token}"}), 401, "invalid_token")
    assert_error(api("POST", COMMUNITIES, {"name": "x"}), 401, "missing_token")


def test_tokens_signed_with_the_previous_key_still_work_after_rotation(api: Api) -> None:
    _, rid = login(api, "openid-alice")
    old = _resident_token(PREVIOUS_KID, SIGNING_KEYS[PREVIOUS_KID], int(time.time()), 3600, rid)
    status, me, _ = api("GET", "/v1/me", token=old)
    assert (status, me["resident_id"]) == (200, rid)
