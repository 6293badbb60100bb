"""`make package` for both stages: the packaged template's failure paths, IAM, stage settings and artefacts.

The stages are packaged once per session through infra/package.py (what `make package` runs) into a
temporary directory; the layer comes from build/layer/ (built from the lock if missing or stale).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.settings import Settings, SettingsError
from infra.package import APP_ENTRIES, APP_ZIP_LIMIT, Packaged, package
from layers.build import ZIP_EPOCH, read_lock
from localcloud.template import references, resources_of_type

STAGES = ("dev", "prod")
#: every Chalice function and the role it runs as: its own, or its small group's (same needs)
ROLE_OF = {
    "APIHandler": "ApiRole", "HandleDeviceEvents": "DeviceEventsRole", "FanOutOutbox": "OutboxStreamRole",
    "CheckDeviceHealth": "AlarmJobsRole", "RunAlarmJobs": "AlarmJobsRole", "FireTimers": "FireTimersRole",
    "SettleWithdrawals": "SettleWithdrawalsRole", "ReconcileLedger": "ReconcileLedgerRole",
    "RunOrderJobs": "OrderJobsRole", "DeliverWebhooks": "DeliverWebhooksRole",
    "DispatchDueWebhooks": "DispatchWebhooksRole", "NotifyResidents": "NotifyResidentsRole",
    "NotifyStaff": "NotifyStaffRole", "NotifyPartners": "NotifyPartnersRole", "RefreshTv": "RefreshTvRole",
}
DATA_SERVICES = ("dynamodb", "sqs", "sns", "secretsmanager", "iot")
_WHOLE_SERVICE = re.compile(r"^arn:[^:]*:(?:" + "|".join(DATA_SERVICES) + r"):[^:]*:[^:]*:\*$")


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Packaged]:
    out = tmp_path_factory.mktemp("build")
    return {stage: package(stage, build=out) for stage in STAGES}


@pytest.fixture(scope="session")
def templates(packaged: dict[str, Packaged]) -> dict[str, dict[str, Any]]:
    return {stage: yaml.safe_load(p.template.read_text(encoding="utf-8")) for stage, p in packaged.items()}


@pytest.fixture(params=STAGES)
def stage(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources_of_type(template, "AWS::Serverless::Function")


def _statements(template: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    """Every statement a role grants: its inline policies and the template's managed policies it attaches."""
    resources = template["Resources"]
    props = resources[logical_id]["Properties"]
    documents = [policy["PolicyDocument"] for policy in props.get("Policies", [])]
    for arn in props.get("ManagedPolicyArns", []):
        for managed in references(arn) & set(resources):
            documents.append(resources[managed]["Properties"]["PolicyDocument"])
    return [statement for document in documents for statement in document["Statement"]]


def _all_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        documents = [props.get("PolicyDocument")] + [p["PolicyDocument"] for p in props.get("Policies", [])]
        for document in documents:
            if isinstance(document, dict):
                for statement in document["Statement"]:
                    yield logical_id, statement


def _grants(template: dict[str, Any], role: str) -> dict[str, set[str]]:
    """action → the logical ids / literal ARNs it is allowed on."""
    granted: dict[str, set[str]] = {}
    for statement in _statements(template, role):
        targets: set[str] = set()
        for resource in _as_list(statement.get("Resource", statement.get("NotResource", []))):
            targets |= references(resource) or {json.dumps(resource)}
        for action in _as_list(statement["Action"]):
            granted.setdefault(action, set()).update(targets)
    return granted


def _text(resource: Any) -> str:
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return sub if isinstance(sub, str) else str(sub[0])
    return ""


def _alarmed_queues(template: dict[str, Any]) -> set[str]:
    alarmed: set[str] = set()
    for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values():
        if alarm["Properties"].get("Namespace") == "AWS/SQS":
            for dimension in alarm["Properties"]["Dimensions"]:
                alarmed |= references(dimension["Value"])
    return alarmed


# ------------------------------------------------------------------------------ failure paths


def test_every_asynchronous_function_has_a_failure_destination_that_is_alarmed(
        templates: dict[str, dict[str, Any]], stage: str) -> None:
    template = templates[stage]
    resources, alarmed = template["Resources"], _alarmed_queues(template)
    kinds: dict[str, set[str]] = {}
    for name, function in _functions(template).items():
        props = function["Properties"]
        for event in props.get("Events", {}).values():
            kind, source = event["Type"], event["Properties"]
            kinds.setdefault(kind, set()).add(name)
            if kind == "SQS":
                (queue,) = references(source["Queue"])
                redrive = resources[queue]["Properties"].get("RedrivePolicy")
                assert redrive and redrive["maxReceiveCount"] >= 1, f"{name}: {queue} has no dead-letter queue"
                destination = redrive["deadLetterTargetArn"]
            elif kind == "DynamoDB":
                destination = source.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
                assert destination, f"{name}: the stream source has no on-failure destination"
            elif kind == "Schedule":  # EventBridge invokes asynchronously
                invoke = props.get("EventInvokeConfig", {})
                destination = (invoke.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
                               or props.get("DeadLetterQueue", {}).get("TargetArn"))
                assert destination, f"{name}: a failed scheduled run would vanish (no destination, no DLQ)"
                assert invoke.get("MaximumRetryAttempts", 2) <= 2, name
            else:
                pytest.fail(f"{name}: no failure-path check for a {kind} source")
            (target,) = references(destination)
            assert resources[target]["Type"] == "AWS::SQS::Queue", name
            assert target in alarmed, f"{name}: failures land in {target}, which no alarm watches"
    assert kinds["Schedule"] == {"CheckDeviceHealth", "SettleWithdrawals", "ReconcileLedger", "RunOrderJobs",
                                 "DispatchDueWebhooks", "RunAlarmJobs"}
    assert len(kinds["SQS"]) == 7
    assert kinds["DynamoDB"] == {"FanOutOutbox"}


def test_every_function_has_an_errors_alarm_and_every_topic_rule_an_error_action(
        templates: dict[str, dict[str, Any]], stage: str) -> None:
    template = templates[stage]
    watched = {ref for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values()
               if alarm["Properties"].get("Namespace") == "AWS/Lambda"
               and alarm["Properties"]["MetricName"] == "Errors"
               for d in alarm["Properties"]["Dimensions"] for ref in references(d["Value"])}
    assert set(_functions(template)) <= watched
    rules = resources_of_type(template, "AWS::IoT::TopicRule")
    assert rules
    for logical_id, rule in rules.items():
        assert rule["Properties"]["TopicRulePayload"].get("ErrorAction"), logical_id


def test_every_alarm_notifies_the_people_on_call_when_it_fires_and_clears(
        templates: dict[str, dict[str, Any]], stage: str) -> None:
    alarms = resources_of_type(templates[stage], "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 20
    for logical_id, alarm in alarms.items():
        for actions in ("AlarmActions", "OKActions"):
            assert alarm["Properties"].get(actions) == [{"Ref": "OpsAlarmsTopic"}], (logical_id, actions)
    assert templates[stage]["Resources"]["OpsAlarmsTopic"]["Type"] == "AWS::SNS::Topic"


# ------------------------------------------------------------------------------------------ IAM


def test_no_statement_has_a_wildcard_action_or_a_wildcard_data_resource(
        templates: dict[str, dict[str, Any]], stage: str) -> None:
    statements = list(_all_statements(templates[stage]))
    assert len(statements) > 40
    for logical_id, statement in statements:
        actions = _as_list(statement["Action"])
        assert "NotAction" not in statement, logical_id
        assert all("*" not in action for action in actions), (logical_id, actions)
        resources = [_text(r) for r in _as_list(statement.get("Resource", []))]
        if "*" in resources:
            assert all(a.startswith("xray:") for a in actions), (logical_id, statement.get("Sid"))
        if any(a.split(":")[0] in DATA_SERVICES for a in actions):
            for resource in resources:
                assert resource != "*" and not _WHOLE_SERVICE.match(resource), (logical_id, resource)
        if "NotResource" in statement:  # SMS only: everything that is not an SNS topic or application
            assert actions == ["sns:Publish"], logical_id
            assert [_text(r) for r in statement["NotResource"]] == ["arn:${AWS::Partition}:sns:*:*:*"]


def test_each_function_runs_as_its_own_least_privilege_role(
        templates: dict[str, dict[str, Any]], stage: str) -> None:
    template = templates[stage]
    functions = _functions(template)
    assert "LambdaRole" not in template["Resources"]
    for name, role in ROLE_OF.items():
        assert functions[name]["Properties"]["Role"] == {"Fn::GetAtt": [role, "Arn"]}, name
        assert template["Resources"][role]["Type"] == "AWS::IAM::Role"
        # a role writes the logs of its own functions only
        (logs,) = [s for s in _statements(template, role) if s.get("Sid") == "Logs"]
        assert {r for x in logs["Resource"] for r in references(x)} == {
            f"{f}LogGroup" for f, r in ROLE_OF.items() if r == role}, role
    users: dict[str, set[str]] = {}
    for name, function in functions.items():
        for role in references(function["Properties"]["Role"]):
            users.setdefault(role, set()).add(name)
    shared = {role: names for role, names in users.items() if len(names) > 1}
    assert shared == {"AlarmJobsRole": {"CheckDeviceHealth", "RunAlarmJobs"}}


def test_roles_cannot_reach_what_their_function_does_not_use(templates: dict[str, dict[str, Any]]) -> None:
    template = templates["prod"]
    grants = {role: _grants(template, role) for role in set(ROLE_OF.values())}
    payment_secrets = {"WeChatPaySecret", "StripeSecret", "WeChatSecret"}
    # device messages: the keys behind phone hashes, but no payment or WeChat secret, no topic, no webhooks
    device = grants["DeviceEventsRole"]
    assert device["secretsmanager:GetSecretValue"] == {"AppSecret", "PhonePepperSecret", "AdminTokenSecret"}
    assert not device["secretsmanager:GetSecretValue"] & payment_secrets
    assert "sns:Publish" not in device
    assert "WebhookDeliveriesQueue" not in device.get("sqs:SendMessage", set())
    # webhook senders: no secret at all, no device commands, no things
    for role in ("DeliverWebhooksRole", "DispatchWebhooksRole", "NotifyPartnersRole"):
        assert not any(a.startswith(("secretsmanager:", "iot:", "sns:")) for a in grants[role]), role
    # IoT: only device messages command devices; only the stream creates things
    assert {r for r, g in grants.items() if "iot:Publish" in g} == {"DeviceEventsRole"}
    assert {r for r, g in grants.items() if "iot:CreateThing" in g} == {"OutboxStreamRole"}
    assert {r for r, g in grants.items() if "dynamodb:GetRecords" in g} == {"OutboxStreamRole"}
    # money: WeChat Pay's credentials only where bills or orders are made, queried or refunded
    assert {r for r, g in grants.items() if "WeChatPaySecret" in g.get("secretsmanager:GetSecretValue", set())} \
        == {"ApiRole", "OutboxStreamRole", "SettleWithdrawalsRole", "OrderJobsRole"}
    assert set(grants["SettleWithdrawalsRole"]["secretsmanager:GetSecretValue"]) == {"WeChatPaySecret"}
    # SMS (a publish to any phone number) only for the two channels that text people
    assert {r for r, g in grants.items() if any("sns:*:*:*" in t for t in g.get("sns:Publish", set()))} \
        == {"NotifyResidentsRole", "NotifyStaffRole"}
    # the ledger audit reads and records rejects; it cannot change a balance
    audit = grants["ReconcileLedgerRole"]
    assert "dynamodb:UpdateItem" not in audit and "dynamodb:DeleteItem" not in audit
    # the TV channel: its queue, its logs, the hub's tables; nothing else
    tables = {a for s in template["Resources"]["HubDataPolicy"]["Properties"]["PolicyDocument"]["Statement"]
              for a in _as_list(s["Action"])}
    tv = grants["RefreshTvRole"]
    assert set(tv) - tables == {"logs:CreateLogStream", "logs:PutLogEvents", "sqs:ReceiveMessage",
                                "sqs:DeleteMessage", "sqs:GetQueueAttributes", "xray:PutTraceSegments",
                                "xray:PutTelemetryRecords"}
    assert tv["sqs:ReceiveMessage"] == {"NotifyTvQueue"}


# --------------------------------------------------------------------------------- stage settings


def _function_env(template: dict[str, Any], name: str) -> dict[str, str]:
    env = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    env.update(template["Resources"][name]["Properties"].get("Environment", {}).get("Variables", {}))
    return {k: v for k, v in env.items() if isinstance(v, str)}


def test_no_deployed_stage_allows_loopback_webhooks(templates: dict[str, dict[str, Any]], stage: str) -> None:
    template = templates[stage]
    assert "LINLI_WEBHOOK_ALLOW_LOOPBACK" not in template["Globals"]["Function"]["Environment"]["Variables"]
    for name in ROLE_OF:
        env = _function_env(template, name)
        assert env["LINLI_STAGE"] == stage, name
        assert env["LINLI_WEBHOOK_ALLOW_LOOPBACK"] == "false", name
        assert Settings.from_env(env).webhook_allow_loopback is False
        # and were someone to switch it on in the console, the function would refuse to start
        with pytest.raises(SettingsError, match="only on the local stage"):
            Settings.from_env({**env, "LINLI_WEBHOOK_ALLOW_LOOPBACK": "true"})
    assert not any("loopback" in p.lower() for p in template.get("Parameters", {}))


def test_stages_log_at_their_own_level(templates: dict[str, dict[str, Any]]) -> None:
    assert _function_env(templates["dev"], "APIHandler")["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert _function_env(templates["prod"], "APIHandler")["POWERTOOLS_LOG_LEVEL"] == "INFO"


def _parameters(packaged: Packaged) -> dict[str, str]:
    entries = json.loads((packaged.out / "parameters.json").read_text(encoding="utf-8"))
    return {e["ParameterKey"]: e["ParameterValue"] for e in entries}


def test_parameters_are_the_stage_files_and_the_defaults_keep_the_local_names(
        packaged: dict[str, Packaged], templates: dict[str, dict[str, Any]], stage: str) -> None:
    template, parameters = templates[stage], _parameters(packaged[stage])
    declared = template["Parameters"]
    assert set(parameters) <= set(declared)
    assert {"HubTablePhysicalName", "OutboxTablePhysicalName", "SecretNamePrefix", "SettleWithdrawalsConcurrency",
            "WithdrawalRequestsPerSecond"} <= set(parameters)
    # localcloud deploys with the defaults: they are the names it has always created
    assert declared["HubTablePhysicalName"]["Default"] == "linli-hub"
    assert declared["OutboxTablePhysicalName"]["Default"] == "linli-outbox"
    assert declared["SecretNamePrefix"]["Default"] == "linli"
    resources = template["Resources"]
    assert resources["HubTable"]["Properties"]["TableName"] == {"Ref": "HubTablePhysicalName"}
    assert resources["AppSecret"]["Properties"]["Name"] == {"Fn::Sub": "${SecretNamePrefix}/app"}


def test_the_payout_job_has_reserved_concurrency_and_bill_creation_is_throttled(
        packaged: dict[str, Packaged], templates: dict[str, dict[str, Any]], stage: str) -> None:
    template, parameters = templates[stage], _parameters(packaged[stage])
    settle = template["Resources"]["SettleWithdrawals"]["Properties"]
    assert settle["ReservedConcurrentExecutions"] == {"Ref": "SettleWithdrawalsConcurrency"}
    assert template["Parameters"]["SettleWithdrawalsConcurrency"]["MaxValue"] == 1
    if stage == "prod":
        assert parameters["SettleWithdrawalsConcurrency"] == "1"
    (throttle,) = template["Resources"]["RestAPI"]["Properties"]["MethodSettings"]
    assert (throttle["ResourcePath"], throttle["HttpMethod"]) == ("/~1v1~1wallet~1withdrawals", "POST")
    assert throttle["ThrottlingRateLimit"] == {"Ref": "WithdrawalRequestsPerSecond"}
    assert throttle["ThrottlingBurstLimit"] == {"Ref": "WithdrawalRequestsPerSecond"}
    # a full burst plus a second's refill stays below WeChat's 100 requests/s per merchant
    assert 2 * int(parameters["WithdrawalRequestsPerSecond"]) < 100
    assert "/v1/wallet/withdrawals" in template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]


# ------------------------------------------------------------------------------------- artefacts


def test_the_app_package_is_small_and_holds_no_third_party_code(packaged: dict[str, Packaged]) -> None:
    for stage, result in packaged.items():
        app_zip = result.out / "deployment.zip"
        assert app_zip.stat().st_size < APP_ZIP_LIMIT, stage
        with zipfile.ZipFile(app_zip) as archive:
            names = archive.namelist()
        assert {n.split("/", 1)[0] for n in names} == APP_ENTRIES, stage
        assert not [n for n in names if ".dist-info/" in n or "__pycache__" in n or n.endswith(".pyc")]
        assert "chalicelib/settings.py" in names and "chalice/app.py" in names
        assert result.app.zipped == app_zip.stat().st_size


def test_every_function_gets_the_layer_and_every_local_uri_resolves(
        packaged: dict[str, Packaged], templates: dict[str, dict[str, Any]], stage: str) -> None:
    template, out = templates[stage], packaged[stage].out
    assert template["Globals"]["Function"]["Layers"] == [{"Ref": "DependenciesLayer"}]
    for name, function in _functions(template).items():
        assert "Layers" not in function["Properties"], f"{name} would replace the global layer list"
    layer = template["Resources"]["DependenciesLayer"]["Properties"]
    assert layer["CompatibleRuntimes"] == ["python3.11"]
    uris = [layer["ContentUri"]] + [f["Properties"]["CodeUri"] for f in _functions(template).values()]
    for uri in uris:
        assert isinstance(uri, str) and (out / uri).exists(), uri
    copied = [p.relative_to(out) for p in (out / "functions").rglob("*")]
    assert copied, "functions/ was not copied next to sam.yaml"
    assert not [p for p in copied if "tests" in p.parts or "__pycache__" in p.parts or p.suffix == ".pyc"]


def test_the_layer_zip_is_clean_and_identical_for_both_stages(packaged: dict[str, Packaged]) -> None:
    digests = {hashlib.sha256((p.out / "layer.zip").read_bytes()).hexdigest() for p in packaged.values()}
    assert len(digests) == 1
    with zipfile.ZipFile(packaged["prod"].out / "layer.zip") as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert all(n.startswith("python/") for n in names)
    assert not [n for n in names if n.startswith("python/bin/")]
    compiled = [n for n in names if n.endswith(".pyc")]
    assert compiled and all("/__pycache__/" in n and n.endswith(".cpython-311.pyc") for n in compiled)
    assert "python/boto3/__pycache__/__init__.cpython-311.pyc" in names  # cold starts skip compiling
    assert {i.date_time for i in infos} == {ZIP_EPOCH}
    assert {i.external_attr >> 16 for i in infos} <= {0o100644, 0o100755}
    assert not [n for n in names if n.startswith("python/chalice/")]
    assert {p.name for p in read_lock()} >= {"boto3", "botocore", "pynamodb", "wechatpayv3", "cryptography"}


def test_the_app_imports_from_its_package_and_the_layer_alone(packaged: dict[str, Packaged], tmp_path: Path) -> None:
    """Lambda's view: /var/task (the app zip) and /opt/python (the layer), no site-packages. Every
    chalicelib module is imported, so the lazily imported SDKs (wechatpy, wechatpayv3, stripe) are too."""
    out = packaged["prod"].out
    task, opt = tmp_path / "task", tmp_path / "opt"
    for archive, target in ((out / "deployment.zip", task), (out / "layer.zip", opt)):
        with zipfile.ZipFile(archive) as z:
            z.extractall(target)
    probe = f"""
import importlib, json, pkgutil, sys
sys.path[:0] = [{str(task)!r}, {str(opt / "python")!r}]
import app, chalicelib
for module in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
    importlib.import_module(module.name)
import boto3, botocore, pydantic_core, cryptography.hazmat.bindings._rust
print(json.dumps({{"boto3": boto3.__version__, "where": boto3.__file__, "functions": len(app.app.event_sources),
                   "site": [p for p in sys.path if "site-packages" in p]}}))
"""
    env = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "cn-north-1", "LINLI_STAGE": "prod",
           "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-S", "-s", "-c", probe], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    pinned = {p.name: p.version for p in read_lock()}
    assert seen["boto3"] == pinned["boto3"]
    assert seen["where"].startswith(str(opt / "python"))
    assert seen["site"] == []
    assert seen["functions"] >= 14
