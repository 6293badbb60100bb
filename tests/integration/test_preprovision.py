"""functions/preprovision against moto: devices registered through the hub's own API, then the hook.

The hook does not import chalicelib; these tests are what keeps its idea of the hub table (key, attribute
names, status values) in step with chalicelib's: it reads what chalicelib wrote, and chalicelib reads the
certificate the hook recorded. The last tests check the template wiring the hook to IoT Core.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client

from app import app
from chalicelib.services.deps import Deps
from linli_preprovision import handler, hub, rules
from localcloud.resources import LocalResources
from localcloud.template import load_template, references
from tests.conftest import ADMIN_TOKEN, REGION
from tests.support import events

ROOT = Path(__file__).resolve().parents[2]
COMMUNITIES = "/v1/admin/communities"
SAMPLE = events.load("iot-preprovision")
CERT = SAMPLE["certificateId"]
NEW_CERT = "b" * 64
SERIAL = SAMPLE["parameters"]["SerialNumber"]


class Admin:
    def __init__(self, client: Client) -> None:
        self._client = client

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = self._client.http.request(
            method, path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
            body=b"" if body is None else json.dumps(body).encode())
        return response.status_code, json.loads(response.body) if response.body else None


@pytest.fixture
def admin(hub: Deps) -> Iterator[Admin]:
    with Client(app, project_dir=str(ROOT)) as client:
        yield Admin(client)


@pytest.fixture
def cid(admin: Admin) -> str:
    status, body = admin("POST", COMMUNITIES, {"name": "Sunny Gardens"})
    assert status == 201
    return str(body["community_id"])


@pytest.fixture
def hook(moto: LocalResources, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The handler as Lambda runs it: table name from the environment, its own boto3 client (in moto)."""
    monkeypatch.setenv(hub.TABLE_ENV, moto.environment["LINLI_HUB_TABLE"])
    monkeypatch.setattr(handler, "_client", None)

    def invoke(community_id: str, certificate_id: str = CERT, **parameters: str | None) -> dict[str, Any]:
        event = events.load("iot-preprovision")
        event["certificateId"] = certificate_id
        merged = {**event["parameters"], "CommunityId": community_id, **parameters}
        event["parameters"] = {k: v for k, v in merged.items() if v is not None}
        return handler.lambda_handler(event, None)

    return invoke


def register(admin: Admin, cid: str, thing_name: str = "bin-0001", **fields: Any) -> dict[str, Any]:
    status, body = admin("POST", f"{COMMUNITIES}/{cid}/devices",
                         {"thing_name": thing_name, "type": "recycling_bin", **fields})
    assert status == 201, body
    return dict(body)


def device(admin: Admin, cid: str, thing_name: str = "bin-0001") -> dict[str, Any]:
    status, body = admin("GET", f"{COMMUNITIES}/{cid}/devices/{thing_name}")
    assert status == 200, body
    return dict(body)


def unchanged(now: dict[str, Any], registered: dict[str, Any]) -> bool:
    """The device as registration answered it (the single-device view may add live fields)."""
    return {name: now.get(name) for name in registered} == registered


DENIED = {"allowProvisioning": False, "parameterOverrides": {}}


# ---------------------------------------------------------------------------------- registration


def test_a_device_is_pre_registered_with_its_serial(admin: Admin, cid: str) -> None:
    registered = register(admin, cid, serial=SERIAL)
    assert registered["serial"] == SERIAL
    assert (registered["certificate_id"], registered["provisioned_at"]) == (None, None)
    assert unchanged(device(admin, cid), registered)
    status, listed = admin("GET", f"{COMMUNITIES}/{cid}/devices")
    assert status == 200
    (item,) = listed["items"]
    assert unchanged(item, registered)


def test_registering_without_a_serial_still_works_as_before(admin: Admin, cid: str) -> None:
    assert register(admin, cid)["serial"] is None


@pytest.mark.parametrize(("serial", "code"), [("SN 1", "invalid_serial"), ("", "invalid_body"),
                                              ("x" * 65, "invalid_body"), (7, "invalid_body")])
def test_a_bad_serial_is_400(admin: Admin, cid: str, serial: Any, code: str) -> None:
    status, body = admin("POST", f"{COMMUNITIES}/{cid}/devices",
                         {"thing_name": "bin-0001", "type": "recycling_bin", "serial": serial})
    assert (status, body["error"]["code"]) == (400, code)


# ------------------------------------------------------------------------------------ the hook


def test_a_pre_registered_device_is_allowed_and_its_certificate_recorded(admin: Admin, cid: str, hook: Any) -> None:
    register(admin, cid, serial=SERIAL)

    assert hook(cid) == {"allowProvisioning": True, "parameterOverrides": {
        "ThingName": "bin-0001", "CommunityId": cid, "DeviceType": "recycling_bin"}}

    provisioned = device(admin, cid)
    assert provisioned["certificate_id"] == CERT
    assert provisioned["provisioned_at"].endswith("Z")
    assert provisioned["status"] == "active"


def test_the_same_certificate_again_is_allowed_and_keeps_the_first_time(admin: Admin, cid: str, hook: Any) -> None:
    register(admin, cid, serial=SERIAL)
    assert hook(cid)["allowProvisioning"] is True
    first = device(admin, cid)

    assert hook(cid)["allowProvisioning"] is True
    assert device(admin, cid) == first


def test_another_certificate_needs_staff_to_allow_reprovisioning(admin: Admin, cid: str, hook: Any) -> None:
    register(admin, cid, serial=SERIAL)
    assert hook(cid)["allowProvisioning"] is True

    assert hook(cid, certificate_id=NEW_CERT) == DENIED
    assert device(admin, cid)["certificate_id"] == CERT

    status, body = admin("POST", f"{COMMUNITIES}/{cid}/devices/bin-0001/reprovision")
    assert status == 200, body
    assert body["previous_certificate_id"] == CERT
    assert (body["certificate_id"], body["provisioned_at"]) == (None, None)
    assert device(admin, cid)["certificate_id"] is None

    assert hook(cid, certificate_id=NEW_CERT)["allowProvisioning"] is True
    assert device(admin, cid)["certificate_id"] == NEW_CERT
    assert hook(cid)["allowProvisioning"] is False  # the old certificate does not come back


def test_reprovisioning_another_communitys_device_is_404(admin: Admin, cid: str) -> None:
    other = admin("POST", COMMUNITIES, {"name": "Other"})[1]["community_id"]
    register(admin, other, "their-bin", serial=SERIAL)
    status, body = admin("POST", f"{COMMUNITIES}/{cid}/devices/their-bin/reprovision")
    assert (status, body["error"]["code"]) == (404, "device_not_found")


@pytest.mark.parametrize(("case", "parameters"), [
    ("wrong serial", {"SerialNumber": "SN-RB-2025-000999"}),
    ("unknown thing", {"ThingName": "bin-9999"}),
    ("missing serial", {"SerialNumber": None}),
    ("missing thing name", {"ThingName": None}),
])
def test_a_device_that_does_not_match_is_denied_and_nothing_is_written(admin: Admin, cid: str, hook: Any,
                                                                       case: str, parameters: dict[str, Any]) -> None:
    registered = register(admin, cid, serial=SERIAL)
    assert hook(cid, **parameters) == DENIED, case
    assert unchanged(device(admin, cid), registered), case


def test_the_wrong_community_is_denied(admin: Admin, cid: str, hook: Any) -> None:
    other = admin("POST", COMMUNITIES, {"name": "Other"})[1]["community_id"]
    registered = register(admin, cid, serial=SERIAL)
    assert hook(other) == DENIED
    assert unchanged(device(admin, cid), registered)


def test_a_device_registered_without_a_serial_cannot_provision(admin: Admin, cid: str, hook: Any) -> None:
    register(admin, cid)
    assert hook(cid) == DENIED


def test_a_disabled_device_is_denied_until_enabled(admin: Admin, cid: str, hook: Any) -> None:
    register(admin, cid, serial=SERIAL)
    assert admin("POST", f"{COMMUNITIES}/{cid}/devices/bin-0001/disable")[0] == 200
    assert hook(cid) == DENIED
    assert device(admin, cid)["certificate_id"] is None

    assert admin("POST", f"{COMMUNITIES}/{cid}/devices/bin-0001/enable")[0] == 200
    assert hook(cid)["allowProvisioning"] is True


def test_a_certificate_recorded_between_read_and_write_wins(admin: Admin, cid: str, moto: LocalResources) -> None:
    """The update's condition (real DynamoDB expression, in moto): the first certificate recorded wins."""
    register(admin, cid, serial=SERIAL)
    table = moto.environment["LINLI_HUB_TABLE"]
    dynamodb = boto3.client("dynamodb", region_name=REGION)

    class RacedClient:
        def get_item(self, **kwargs: Any) -> Any:
            answer = dynamodb.get_item(**kwargs)
            dynamodb.update_item(**hub.record_certificate_request(table, "bin-0001", NEW_CERT, 1))
            return answer

        def update_item(self, **kwargs: Any) -> Any:
            return dynamodb.update_item(**kwargs)

    parsed = rules.parse_request({**SAMPLE, "parameters": {**SAMPLE["parameters"], "CommunityId": cid}})
    assert isinstance(parsed, rules.Request)
    decision = handler.decide(parsed, table, RacedClient(), 2)
    assert (decision.allow, decision.reason) == (False, "provisioning_conflict")
    assert device(admin, cid)["certificate_id"] == NEW_CERT


def test_the_hook_reads_only_what_it_needs_of_the_device(admin: Admin, cid: str, moto: LocalResources) -> None:
    register(admin, cid, serial=SERIAL, location="north gate")
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    item = dynamodb.get_item(**hub.get_device_request(moto.environment["LINLI_HUB_TABLE"], "bin-0001"))["Item"]
    assert set(item) == {hub.THING_NAME, hub.COMMUNITY_ID, hub.DEVICE_TYPE, hub.STATUS, hub.SERIAL}
    assert hub.registered(item) == rules.Registered(thing_name="bin-0001", community_id=cid,
                                                    device_type="recycling_bin", status="active", serial=SERIAL)


# ------------------------------------------------------------------------ the template wiring it


TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def test_the_function_is_packaged_from_functions_and_its_handler_exists() -> None:
    props = RESOURCES["PreprovisionHook"]["Properties"]
    assert props["CodeUri"] == "functions/preprovision/"
    assert props["Runtime"] == "python3.11"
    module, _, attribute = props["Handler"].rpartition(".")
    assert (ROOT / props["CodeUri"] / module.replace(".", "/")).with_suffix(".py").is_file()
    assert callable(getattr(importlib.import_module(module), attribute))
    assert props["Environment"]["Variables"][hub.TABLE_ENV] == {"Ref": "HubTable"}
    assert props["Timeout"] <= 5


def test_the_function_may_read_and_record_devices_and_write_its_logs_only() -> None:
    role = RESOURCES["PreprovisionHookRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    (policy,) = role["Policies"]
    granted = {(action, ref) for s in policy["PolicyDocument"]["Statement"] for action in s["Action"]
               for r in s["Resource"] for ref in references(r)}
    assert granted == {("dynamodb:GetItem", "HubTable"), ("dynamodb:UpdateItem", "HubTable"),
                       ("logs:CreateLogStream", "PreprovisionHookLogGroup"),
                       ("logs:PutLogEvents", "PreprovisionHookLogGroup")}
    log_group = RESOURCES["PreprovisionHookLogGroup"]["Properties"]
    assert log_group["LogGroupName"] == "/aws/lambda/" + RESOURCES["PreprovisionHook"]["Properties"]["FunctionName"]
    assert log_group["RetentionInDays"] == 30


def test_iot_may_invoke_the_hook_for_this_template_only() -> None:
    permission = RESOURCES["PreprovisionHookPermission"]["Properties"]
    template = RESOURCES["DeviceProvisioningTemplate"]["Properties"]
    assert permission["Principal"] == "iot.amazonaws.com"
    assert references(permission["FunctionName"]) == {"PreprovisionHook"}
    assert permission["SourceArn"]["Fn::Sub"].endswith(":provisioningtemplate/" + template["TemplateName"])
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_the_provisioning_template_takes_the_hooks_parameters_and_attaches_the_device_policy() -> None:
    props = RESOURCES["DeviceProvisioningTemplate"]["Properties"]
    assert props["Enabled"] is True
    assert props["PreProvisioningHook"] == {"TargetArn": {"Fn::GetAtt": ["PreprovisionHook", "Arn"]},
                                            "PayloadVersion": "2020-04-01"}
    assert references(props["ProvisioningRoleArn"]) == {"ProvisioningRole"}
    managed = RESOURCES["ProvisioningRole"]["Properties"]["ManagedPolicyArns"]
    assert [arn["Fn::Sub"].rsplit("/", 1)[1] for arn in managed] == ["AWSIoTThingsRegistration"]

    body = json.loads(props["TemplateBody"]["Fn::Sub"].replace("${DevicePolicy}", "linli-device"))
    declared = set(body["Parameters"])
    assert set(rules.REQUIRED_PARAMETERS) | {rules.DEVICE_TYPE_PARAM} <= declared
    overrides = rules.decide(rules.Request("t", "s", "c", CERT),
                             rules.Registered("t", "c", "door", "active", "s")).overrides
    assert set(overrides) <= declared
    resources = body["Resources"]
    thing = resources["thing"]["Properties"]
    assert thing["ThingName"] == {"Ref": rules.THING_NAME_PARAM}
    # the attributes the hub itself gives a registered thing (chalicelib/adapters/aws.py)
    assert {"community_id", "device_type"} <= set(thing["AttributePayload"])
    assert resources["certificate"]["Properties"] == {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                                                      "Status": "ACTIVE"}
    assert resources["policy"]["Properties"]["PolicyName"] == RESOURCES["DevicePolicy"]["Properties"]["PolicyName"]
    assert references(props["TemplateBody"]) == {"DevicePolicy"}


def test_the_claim_certificate_may_only_provision() -> None:
    name = RESOURCES["DeviceProvisioningTemplate"]["Properties"]["TemplateName"]
    statements = RESOURCES["ClaimCertificatePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    prefix = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:"
    assert all(r["Fn::Sub"].startswith(prefix) for s in statements for r in s["Resource"])
    allowed = {(action, resource["Fn::Sub"].removeprefix(prefix)) for s in statements for action in s["Action"]
               for resource in s["Resource"]}
    topics = ["$aws/certificates/create/*", f"$aws/provisioning-templates/{name}/provision/*"]
    assert allowed == {("iot:Connect", "client/provision-*")} | {
        (action, f"topic/{t}") for action in ("iot:Publish", "iot:Receive") for t in topics} | {
        ("iot:Subscribe", f"topicfilter/{t}") for t in topics}
