"""functions/preprovision: the pre-provisioning hook's decisions (pure) and its handler over a fake table."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.adapters.dynamo import keys
from chalicelib.adapters.system import TimeOrderedIds
from chalicelib.domain import devices
from linli_preprovision import handler, hub, rules
from tests.support import events

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
CERT = "3f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e"
OTHER_CERT = "0" * 64
SERIAL = "SN-RB-2025-000123"


def sample_event(**parameters: Any) -> dict[str, Any]:
    """The sample event (events/iot-preprovision.json) with some parameters changed (None removes one)."""
    event = events.load("iot-preprovision")
    event["parameters"] = {k: v for k, v in {**event["parameters"], **parameters}.items() if v is not None}
    return event


def registered(**changes: Any) -> rules.Registered:
    fields: dict[str, Any] = {"thing_name": "bin-0001", "community_id": "c_demo", "device_type": "recycling_bin",
                              "status": "active", "serial": SERIAL, "certificate_id": None}
    return rules.Registered(**{**fields, **changes})


def request(**parameters: Any) -> rules.Request:
    parsed = rules.parse_request(sample_event(**parameters))
    assert isinstance(parsed, rules.Request), parsed
    return parsed


# ------------------------------------------------------------------------------------ decisions


ALLOWED_OVERRIDES = {"ThingName": "bin-0001", "CommunityId": "c_demo", "DeviceType": "recycling_bin"}


@pytest.mark.parametrize(("case", "device", "parameters", "allow", "reason"), [
    ("match", registered(), {}, True, "first_certificate"),
    ("the same certificate again", registered(certificate_id=CERT), {}, True, "same_certificate_again"),
    ("wrong serial", registered(), {"SerialNumber": "SN-RB-2025-000124"}, False, "serial_mismatch"),
    ("serial differs in case", registered(), {"SerialNumber": SERIAL.lower()}, False, "serial_mismatch"),
    ("wrong community", registered(), {"CommunityId": "c_other"}, False, "community_mismatch"),
    ("unknown thing", None, {}, False, "unknown_device"),
    ("registered without a serial", registered(serial=None), {}, False, "no_serial_registered"),
    ("disabled", registered(status="disabled"), {}, False, "device_disabled"),
    ("provisioned with another certificate", registered(certificate_id=OTHER_CERT), {}, False,
     "provisioned_with_other_certificate"),
    ("disabled and provisioned with another certificate", registered(status="disabled", certificate_id=OTHER_CERT),
     {}, False, "device_disabled"),
])
def test_decisions(case: str, device: rules.Registered | None, parameters: dict[str, str], allow: bool,
                   reason: str) -> None:
    decision = rules.decide(request(**parameters), device)
    assert (decision.allow, decision.reason) == (allow, reason), case
    assert decision.record == (reason == "first_certificate"), case
    if allow:
        assert decision.response() == {"allowProvisioning": True, "parameterOverrides": ALLOWED_OVERRIDES}
    else:
        assert decision.response() == {"allowProvisioning": False, "parameterOverrides": {}}


def test_the_overrides_name_the_device_as_registered() -> None:
    device = registered(thing_name="bin-0001", community_id="c_demo", device_type="trash_bin")
    assert rules.decide(request(), device).overrides == {"ThingName": "bin-0001", "CommunityId": "c_demo",
                                                         "DeviceType": "trash_bin"}


@pytest.mark.parametrize("name", ["ThingName", "SerialNumber", "CommunityId"])
@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_parameter_is_denied_with_its_name(name: str, value: str | None) -> None:
    decision = rules.parse_request(sample_event(**{name: value}))
    assert decision == rules.deny("missing_parameter", name)
    assert isinstance(decision, rules.Decision)
    assert decision.response()["allowProvisioning"] is False


@pytest.mark.parametrize(("name", "value"), [
    ("ThingName", "bin/0001"), ("ThingName", "dt/linli/+/#"), ("ThingName", "x" * 129), ("ThingName", 7),
    ("SerialNumber", "SN 1"), ("SerialNumber", "x" * 65), ("SerialNumber", ["SN-1"]),
    ("CommunityId", "c demo"), ("CommunityId", "c/other"),
])
def test_a_parameter_of_the_wrong_form_is_denied(name: str, value: Any) -> None:
    assert rules.parse_request(sample_event(**{name: value})) == rules.deny("invalid_parameter", name)


@pytest.mark.parametrize("event", [
    None, [], "allow me",
    {**events.load("iot-preprovision"), "certificateId": None},
    {**events.load("iot-preprovision"), "certificateId": "not-a-certificate-id"},
])
def test_a_malformed_event_is_denied(event: Any) -> None:
    decision = rules.parse_request(event)
    assert isinstance(decision, rules.Decision)
    assert (decision.allow, decision.reason) == (False, "malformed_event")


def test_parameters_that_are_not_an_object_are_missing() -> None:
    event = {**events.load("iot-preprovision"), "parameters": "ThingName=bin-0001"}
    assert rules.parse_request(event) == rules.deny("missing_parameter", "ThingName, SerialNumber, CommunityId")


def test_the_request_carries_the_certificates_and_client() -> None:
    parsed = request()
    assert parsed == rules.Request(thing_name="bin-0001", serial=SERIAL, community_id="c_demo", certificate_id=CERT,
                                   claim_certificate_id=events.load("iot-preprovision")["claimCertificateId"],
                                   client_id="provision-bin-0001")


# ----------------------------------------------------- the same formats and keys as chalicelib


def test_formats_are_the_ones_the_hub_registers_with() -> None:
    assert rules.THING_NAME.pattern == devices.THING_NAME.pattern
    assert rules.SERIAL.pattern == devices.SERIAL.pattern
    community_id = TimeOrderedIds().new_id("c")
    assert rules.COMMUNITY_ID.fullmatch(community_id)


def test_the_device_key_is_the_hubs() -> None:
    pk, sk = keys.device("bin-0001")
    assert hub.device_key("bin-0001") == {"pk": {"S": pk}, "sk": {"S": sk}}


def test_the_function_imports_only_the_standard_library_boto3_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"boto3", "botocore", "linli_preprovision"}
    sources = sorted(FUNCTIONS.rglob("*.py"))
    assert sources
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{path.relative_to(FUNCTIONS)} imports {roots - allowed}"


# ------------------------------------------------------------------ the handler over a fake table


class FakeDynamo:
    """get_item / update_item over one device item, failing the update's condition when told to."""

    def __init__(self, item: dict[str, Any] | None, update_error: str | None = None) -> None:
        self.item = item
        self.update_error = update_error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("get_item", kwargs))
        return {} if self.item is None else {"Item": self.item}

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("update_item", kwargs))
        if self.update_error:
            raise ClientError({"Error": {"Code": self.update_error, "Message": "no"}}, "UpdateItem")
        return {}


def device_item(**changes: str) -> dict[str, Any]:
    fields = {"thing_name": "bin-0001", "community_id": "c_demo", "device_type": "recycling_bin",
              "status": "active", "serial": SERIAL, **changes}
    return {"pk": {"S": "THING#bin-0001"}, "sk": {"S": "DEVICE"}, "type": {"S": "device"},
            **{name: {"S": value} for name, value in fields.items()}}


def test_the_first_acceptance_is_recorded_with_one_conditional_update() -> None:
    dynamo = FakeDynamo(device_item())
    decision = handler.decide(request(), "linli-hub", dynamo, 1_767_225_600_000)
    assert decision.allow
    assert [name for name, _ in dynamo.calls] == ["get_item", "update_item"]
    get = dynamo.calls[0][1]
    assert (get["TableName"], get["Key"], get["ConsistentRead"]) == ("linli-hub", hub.device_key("bin-0001"), True)
    assert dynamo.calls[1][1] == hub.record_certificate_request("linli-hub", "bin-0001", CERT, 1_767_225_600_000)


def test_the_same_certificate_again_writes_nothing() -> None:
    dynamo = FakeDynamo(device_item(provision_cert_id=CERT))
    assert handler.decide(request(), "linli-hub", dynamo, 1).allow
    assert [name for name, _ in dynamo.calls] == ["get_item"]


def test_a_denied_device_writes_nothing() -> None:
    dynamo = FakeDynamo(device_item(serial="SN-OTHER"))
    assert handler.decide(request(), "linli-hub", dynamo, 1).reason == "serial_mismatch"
    assert [name for name, _ in dynamo.calls] == ["get_item"]


def test_a_device_that_changed_since_the_read_is_denied() -> None:
    dynamo = FakeDynamo(device_item(), update_error="ConditionalCheckFailedException")
    decision = handler.decide(request(), "linli-hub", dynamo, 1)
    assert (decision.allow, decision.reason) == (False, "provisioning_conflict")


def test_an_aws_error_propagates_so_iot_refuses_and_the_device_retries() -> None:
    dynamo = FakeDynamo(device_item(), update_error="ProvisionedThroughputExceededException")
    with pytest.raises(ClientError):
        handler.decide(request(), "linli-hub", dynamo, 1)


def test_every_decision_is_one_json_log_line_without_secrets(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LINLI_HUB_TABLE", "linli-hub")
    monkeypatch.setattr(handler, "_client", FakeDynamo(device_item(serial="SN-OTHER")))
    event = sample_event()

    assert handler.lambda_handler(event, None) == {"allowProvisioning": False, "parameterOverrides": {}}

    (line,) = capsys.readouterr().out.splitlines()
    logged = json.loads(line)
    assert logged["allow"] is False
    assert logged["reason"] == "serial_mismatch"
    assert (logged["thing_name"], logged["community_id"]) == ("bin-0001", "c_demo")
    assert logged["certificate_id"] == CERT
    assert "BEGIN CERTIFICATE" not in line
    assert SERIAL not in line
    assert "SN-OTHER" not in line


def test_a_malformed_event_is_logged_and_denied_without_a_read(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    dynamo = FakeDynamo(device_item())
    monkeypatch.setattr(handler, "_client", dynamo)
    event = sample_event(ThingName="x" * 500)

    assert handler.lambda_handler(event, None)["allowProvisioning"] is False

    logged = json.loads(capsys.readouterr().out)
    assert (logged["reason"], logged["detail"]) == ("invalid_parameter", "ThingName")
    assert logged["thing_name"] == "x" * 128  # what the device sent, cut short
    assert dynamo.calls == []
