"""infra/template.yaml: its rules, and localcloud building its resources in moto."""

from __future__ import annotations

import importlib
import json
import re
import socket
import string
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chalice.utils import to_cfn_resource_name
from moto import mock_aws
from moto.server import ThreadedMotoServer

from localcloud.resources import LocalResources, create_resources
from localcloud.template import DEFAULT_TEMPLATE_PATH, Resolver, load_template, references, resources_of_type

REGION = "cn-north-1"
KINDS = ("weighin", "fill", "meter", "access", "soil", "security", "heartbeat")
CHALICE_FUNCTIONS = ("APIHandler", "HandleDeviceEvents", "FanOutOutbox", "CheckDeviceHealth", "SettleWithdrawals",
                     "ReconcileLedger", "DeliverWebhooks", "DispatchDueWebhooks", "RunOrderJobs",
                     "FireTimers", "RunAlarmJobs", "NotifyResidents", "NotifyStaff", "NotifyPartners", "RefreshTv")
#: resources `chalice package` generates that the merge template may refer to (checked by cfn-lint after merge)
CHALICE_GENERATED = ("RestAPI",)
SQL_SELECT = ("SELECT encode(*, 'base64') AS payload_b64, topic() AS topic, clientid() AS client_id, "
              "timestamp() AS received_at")
ALNUM = set(string.ascii_letters + string.digits)

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws(aws_env: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def built(aws: None) -> LocalResources:
    return create_resources(None, REGION)


# ----------------------------------------------------------------------------- the template itself


def _queues_that_receive_failures() -> set[str]:
    """Queues that are somebody's dead-letter / failure / error destination."""
    terminal: set[str] = set()
    for resource in RESOURCES.values():
        props = resource.get("Properties", {})
        redrive = props.get("RedrivePolicy")
        if redrive:
            terminal |= references(redrive["deadLetterTargetArn"])
        for event in props.get("Events", {}).values():
            on_failure = event.get("Properties", {}).get("DestinationConfig", {}).get("OnFailure")
            if on_failure:
                terminal |= references(on_failure["Destination"])
        error_action = props.get("TopicRulePayload", {}).get("ErrorAction")
        if error_action:
            terminal |= references(error_action["Sqs"]["QueueUrl"])
        on_failure = props.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure")
        if on_failure:
            terminal |= references(on_failure["Destination"])
    return terminal


def _resolved(value: Any) -> Any:
    """``value`` with the template's parameters at their defaults (what localcloud deploys with)."""
    resolver = Resolver(region=REGION, account_id="123456789012")
    for name, parameter in TEMPLATE.get("Parameters", {}).items():
        resolver.register(name, parameter.get("Default", ""))
    return resolver.resolve(value)


def _iam_statements() -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in RESOURCES.items():
        props = resource.get("Properties", {})
        documents = [props.get("PolicyDocument"), props.get("AssumeRolePolicyDocument")]
        documents += [policy["PolicyDocument"] for policy in props.get("Policies", [])]
        for document in documents:
            if document:
                for statement in document["Statement"]:
                    yield logical_id, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_queue_but_the_dead_letter_queues_has_a_redrive_policy() -> None:
    queues = resources_of_type(TEMPLATE, "AWS::SQS::Queue")
    terminal = _queues_that_receive_failures()
    dead_letter_queues = {"DeviceEventsDLQ", "IotRuleErrorsQueue", "OutboxStreamDLQ", "WebhookDeliveriesDLQ",
                          "TimersDLQ", "NotifyDLQ", "ScheduledJobFailuresQueue"}
    assert dead_letter_queues <= terminal <= set(queues)
    for logical_id, queue in queues.items():
        props = queue["Properties"]
        if logical_id in terminal:
            assert "RedrivePolicy" not in props, logical_id
            assert props["MessageRetentionPeriod"] == 14 * 24 * 3600, logical_id
        else:
            assert props["RedrivePolicy"]["maxReceiveCount"] >= 1, logical_id


def test_every_dead_letter_queue_has_an_alarm() -> None:
    alarmed = set()
    for alarm in resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm").values():
        for dimension in alarm["Properties"]["Dimensions"]:
            alarmed |= references(dimension["Value"])
    assert _queues_that_receive_failures() <= alarmed


def test_no_policy_statement_uses_a_wildcard_action() -> None:
    statements = list(_iam_statements())
    assert len(statements) > 10
    for logical_id, statement in statements:
        assert "NotAction" not in statement, logical_id
        for action in _as_list(statement["Action"]):
            assert "*" not in action, (logical_id, action)


def test_only_actions_without_resource_level_permissions_get_a_wildcard_resource() -> None:
    for logical_id, statement in _iam_statements():
        if statement.get("Resource") == "*" or "*" in _as_list(statement.get("Resource", [])):
            assert all(a.startswith("xray:") for a in _as_list(statement["Action"])), logical_id


def test_the_iot_rule_role_may_only_send_to_the_two_queues() -> None:
    (policy,) = RESOURCES["IotRuleRole"]["Properties"]["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["sqs:SendMessage"]
    assert {ref for r in statement["Resource"] for ref in references(r)} == {"DeviceEventsQueue",
                                                                            "IotRuleErrorsQueue"}


def test_the_device_policy_confines_a_thing_to_its_own_name() -> None:
    statements = RESOURCES["DevicePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    by_action = {a: s for s in statements for a in _as_list(s["Action"])}
    assert set(by_action) == {"iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive"}
    thing = "${!iot:Connection.Thing.ThingName}"
    expected = {"iot:Connect": f":client/{thing}", "iot:Publish": f":topic/dt/linli/*/{thing}/*",
                "iot:Subscribe": f":topicfilter/cmd/linli/*/{thing}/*",
                "iot:Receive": f":topic/cmd/linli/*/{thing}/*"}
    for action, suffix in expected.items():
        (resource,) = by_action[action]["Resource"]
        assert resource["Fn::Sub"].endswith(suffix), action


def test_every_reference_names_a_resource_of_the_template() -> None:
    # cfn-lint does not check GetAtt targets inside SAM event sources, so this does.
    parameters = set(TEMPLATE.get("Parameters", {}))
    known = set(RESOURCES) | set(CHALICE_GENERATED) | parameters
    for logical_id, resource in RESOURCES.items():
        assert references(resource) <= known, logical_id
    assert references(TEMPLATE.get("Globals", {})) <= set(RESOURCES) | parameters
    assert references(TEMPLATE.get("Outputs", {})) <= set(RESOURCES)


def test_the_chalice_functions_are_wired_to_the_infra() -> None:
    roles = resources_of_type(TEMPLATE, "AWS::IAM::Role")
    assert "LambdaRole" not in RESOURCES  # one role per function (or small group), not one for all
    for name in CHALICE_FUNCTIONS:
        (role,) = references(RESOURCES[name]["Properties"]["Role"])
        assert role in roles, name
    device_events = RESOURCES["HandleDeviceEvents"]["Properties"]
    sqs = device_events["Events"]["HandleDeviceEventsSqsEventSource"]["Properties"]
    assert references(sqs["Queue"]) == {"DeviceEventsQueue"}
    assert sqs["Queue"] == {"Fn::Sub": "${DeviceEventsQueue.Arn}"}  # replaces chalice's own Fn::Sub key
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    visibility = RESOURCES["DeviceEventsQueue"]["Properties"]["VisibilityTimeout"]
    assert visibility >= 6 * device_events["Timeout"]

    stream = RESOURCES["FanOutOutbox"]["Properties"]["Events"]["FanOutOutboxDynamodbEventSource"]["Properties"]
    assert stream["Stream"] == {"Fn::GetAtt": ["OutboxTable", "StreamArn"]}
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["BisectBatchOnFunctionError"] is True
    assert 0 < stream["MaximumRetryAttempts"] <= 10
    assert stream["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["OutboxStreamDLQ", "Arn"]}

    webhooks = RESOURCES["DeliverWebhooks"]["Properties"]
    sqs = webhooks["Events"]["DeliverWebhooksSqsEventSource"]["Properties"]
    assert sqs["Queue"] == {"Fn::Sub": "${WebhookDeliveriesQueue.Arn}"}
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # a batch of 10 attempts of up to 15 s each must fit in one invocation, and SQS must not redeliver meanwhile
    assert webhooks["Timeout"] >= 10 * 15
    assert RESOURCES["WebhookDeliveriesQueue"]["Properties"]["VisibilityTimeout"] >= 6 * webhooks["Timeout"]


def test_the_timer_queue_feeds_fire_timers_and_is_the_queue_the_hub_sends_to() -> None:
    from chalicelib.adapters.timer_queue import TIMER_QUEUE

    timers = RESOURCES["FireTimers"]["Properties"]
    sqs = timers["Events"]["FireTimersSqsEventSource"]["Properties"]
    assert sqs["Queue"] == {"Fn::Sub": "${TimersQueue.Arn}"}
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert RESOURCES["TimersQueue"]["Properties"]["QueueName"] == TIMER_QUEUE
    assert RESOURCES["TimersQueue"]["Properties"]["VisibilityTimeout"] >= 6 * timers["Timeout"]


def _chalice_app() -> Any:
    return importlib.import_module("app")


def test_the_template_overrides_every_function_chalice_generates(aws_env: None) -> None:
    # A function the template does not know would deploy with config.json's placeholder role.
    chalice_app = _chalice_app().app
    names = [source.name for source in chalice_app.event_sources]
    names += [function.name for function in chalice_app.pure_lambda_functions]
    generated = {to_cfn_resource_name(name) for name in names} | {"APIHandler"}
    assert generated == set(CHALICE_FUNCTIONS)


def test_every_function_handler_names_an_attribute_of_app_py(aws_env: None) -> None:
    # Lambda resolves Handler "app.<name>" as getattr(app_module, name): chalice takes <name> from the
    # decorated function's __name__, so app.py must bind each one under that same name.
    app_module = _chalice_app()
    sources = list(app_module.app.event_sources) + list(app_module.app.pure_lambda_functions)
    handlers = [source.handler_string for source in sources]
    assert len(set(handlers)) == len(handlers), f"functions share a Lambda handler: {handlers}"
    for source in sources:
        module, _, attribute = source.handler_string.partition(".")
        assert module == "app", source.name
        assert callable(getattr(app_module, attribute, None)), (
            f"{source.name}: Lambda would look for {source.handler_string}, which app.py does not define")


def test_the_functions_environment_names_the_template_resources() -> None:
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert env["LINLI_HUB_TABLE"] == {"Ref": "HubTable"}
    assert env["LINLI_OUTBOX_TABLE"] == {"Ref": "OutboxTable"}
    assert references(env["LINLI_DEVICE_EVENTS_QUEUE"]) == {"DeviceEventsQueue"}
    assert env["POWERTOOLS_SERVICE_NAME"] == "linli"
    secret_names = {lid: _resolved(r["Properties"]["Name"])
                    for lid, r in resources_of_type(TEMPLATE, "AWS::SecretsManager::Secret").items()}
    assert {_resolved(env[f"LINLI_{v}_SECRET_NAME"])
            for v in ("APP", "PEPPER", "ADMIN", "WECHAT", "WECHATPAY", "STRIPE")} == set(secret_names.values())
    assert set(secret_names.values()) >= {"linli/app", "linli/phone-pepper", "linli/wechatpay"}
    granted = {ref for _, s in _iam_statements() if s.get("Sid") == "Secrets"
               for r in s["Resource"] for ref in references(r)}
    assert granted == set(secret_names)


def test_the_template_uses_long_form_intrinsics_only() -> None:
    text = DEFAULT_TEMPLATE_PATH.read_text(encoding="utf-8")
    assert not re.search(r"(^|\s)!(Ref|GetAtt|Sub|Join|Select|If|Equals)\b", text)


# -------------------------------------------------------------------------------- built in moto


def test_builds_every_table_queue_and_secret(built: LocalResources) -> None:
    def names(resource_type: str, key: str) -> set[str]:
        return {_resolved(r["Properties"][key]) for r in resources_of_type(TEMPLATE, resource_type).values()}

    assert {t.name for t in built.tables.values()} == names("AWS::DynamoDB::Table", "TableName")
    assert {q.name for q in built.queues.values()} == names("AWS::SQS::Queue", "QueueName")
    assert set(built.secrets) == names("AWS::SecretsManager::Secret", "Name")

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    assert set(dynamodb.list_tables()["TableNames"]) == {"linli-hub", "linli-outbox"}
    assert {url.rsplit("/", 1)[1] for url in sqs.list_queues()["QueueUrls"]} == {
        "linli-device-events", "linli-device-events-dlq", "linli-iot-rule-errors", "linli-outbox-stream-dlq",
        "linli-webhook-deliveries", "linli-webhook-deliveries-dlq", "linli-timers", "linli-timers-dlq",
        "linli-notify-residents", "linli-notify-staff", "linli-notify-partners", "linli-notify-tv", "linli-notify-dlq",
        "linli-scheduled-job-failures"}


def test_tables_have_keys_index_stream_and_ttl(built: LocalResources) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    hub = dynamodb.describe_table(TableName="linli-hub")["Table"]
    assert hub["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}]
    indexes = {gsi["IndexName"]: gsi for gsi in hub["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"gsi1", "gsi2"}
    for name, gsi in indexes.items():
        assert [k["AttributeName"] for k in gsi["KeySchema"]] == [f"{name}pk", f"{name}sk"]
        assert gsi["Projection"]["ProjectionType"] == "ALL"
    assert hub["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert hub["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    outbox = dynamodb.describe_table(TableName="linli-outbox")["Table"]
    assert outbox["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    for logical_id, table in built.tables.items():
        assert table.stream_arn is not None, logical_id
        assert table.stream_arn.startswith(f"{table.arn}/stream/"), logical_id
        ttl = dynamodb.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}, logical_id


def test_device_queue_redrives_to_its_dlq_after_five_receives(built: LocalResources) -> None:
    queue, dlq = built.queues["DeviceEventsQueue"], built.queues["DeviceEventsDLQ"]
    assert (queue.redrive_target, queue.max_receive_count) == ("DeviceEventsDLQ", 5)
    assert built.queue_named("linli-device-events") == queue
    sqs = boto3.client("sqs", region_name=REGION)
    attributes = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 5}
    assert attributes["VisibilityTimeout"] == "60"
    dlq_attributes = sqs.get_queue_attributes(QueueUrl=dlq.url, AttributeNames=["All"])["Attributes"]
    assert dlq_attributes["MessageRetentionPeriod"] == str(14 * 24 * 3600)
    assert "RedrivePolicy" not in dlq_attributes


def test_secrets_are_generated_as_the_template_says(built: LocalResources) -> None:
    app = json.loads(built.secrets["linli/app"])
    assert app["kid"] == "k1"
    assert len(app["signing_key"]) == 48
    assert set(app["signing_key"]) <= ALNUM
    assert len(built.secrets["linli/phone-pepper"]) == 48
    assert set(built.secrets["linli/phone-pepper"]) <= ALNUM
    assert len(built.secrets["linli/admin-token"]) == 40
    assert json.loads(built.secrets["linli/wechat"]) == {"appid": "", "secret": ""}
    stored = boto3.client("secretsmanager", region_name=REGION).get_secret_value(SecretId="linli/app")
    assert stored["SecretString"] == built.secrets["linli/app"]
    assert "signing_key" not in repr(built)


def test_secret_overrides_are_stored_instead(aws: None) -> None:
    wechat = json.dumps({"appid": "wx-sandbox", "secret": "s"})
    built = create_resources(None, REGION, secret_overrides={"linli/wechat": wechat,
                                                             "linli/admin-token": "dev-admin"})
    assert built.secrets["linli/wechat"] == wechat
    sm = boto3.client("secretsmanager", region_name=REGION)
    assert sm.get_secret_value(SecretId="linli/admin-token")["SecretString"] == "dev-admin"
    with pytest.raises(ValueError, match="linli/nope"):
        create_resources(None, REGION, secret_overrides={"linli/nope": "x"})


def test_running_twice_leaves_everything_as_it_was(built: LocalResources) -> None:
    again = create_resources(None, REGION)
    assert again == built
    assert again.secrets == built.secrets
    # an explicit override still wins over what is already there
    third = create_resources(None, REGION, secret_overrides={"linli/admin-token": "dev-admin"})
    assert third.secrets["linli/admin-token"] == "dev-admin"
    assert third.secrets["linli/app"] == built.secrets["linli/app"]


def test_environment_is_resolved_for_the_functions(built: LocalResources) -> None:
    assert built.environment["LINLI_HUB_TABLE"] == "linli-hub"
    assert built.environment["LINLI_OUTBOX_TABLE"] == "linli-outbox"
    assert built.environment["LINLI_DEVICE_EVENTS_QUEUE"] == "linli-device-events"
    assert built.environment["LINLI_WECHAT_SECRET_NAME"] == "linli/wechat"


def test_every_kind_has_a_rule_into_the_device_queue(built: LocalResources) -> None:
    device_queue = built.queues["DeviceEventsQueue"].url
    errors_queue = built.queues["IotRuleErrorsQueue"].url
    by_sql = {rule.sql: rule for rule in built.topic_rules.values()}
    for kind in KINDS:
        rule = by_sql[f"{SQL_SELECT} FROM 'dt/linli/+/+/{kind}'"]
        assert rule.sql_version == "2016-03-23"
        assert (rule.queue_url, rule.error_queue_url) == (device_queue, errors_queue), kind
    assert len(built.topic_rules) == len(KINDS) + 2
    for rule in built.topic_rules.values():
        assert rule.sql.startswith(SQL_SELECT + " FROM 'dt/linli/")
        assert (rule.queue_url, rule.error_queue_url) == (device_queue, errors_queue)
        assert re.fullmatch(r"[A-Za-z0-9_]+", rule.rule_name)


def test_each_device_message_is_taken_by_exactly_one_rule(built: LocalResources) -> None:
    from localcloud.iot_sql import compile_rule

    rules = {lid: compile_rule(rule.sql) for lid, rule in built.topic_rules.items()}
    expected = {f"dt/linli/c1/bin-7/{kind}": f"{kind.capitalize()}Rule" for kind in KINDS}
    expected |= dict.fromkeys(["dt/linli/c1/bin-7/unknown", "dt/linli/c1/bin-7/WEIGHIN"], "UnmatchedKindRule")
    expected |= dict.fromkeys(["dt/linli/c1/bin-7", "dt/linli/c1", "dt/linli", "dt/linli/c1/bin-7/weighin/extra"],
                              "UnmatchedDepthRule")
    payload = json.dumps({"event_id": "e1", "ts": 1}).encode()
    for topic, rule_id in expected.items():
        taken = [lid for lid, rule in rules.items() if rule.evaluate(topic, payload, "bin-7", 1_000) is not None]
        assert taken == [rule_id], topic
    for rule_id in ("UnmatchedKindRule", "UnmatchedDepthRule"):
        assert rules[rule_id].evaluate("cmd/linli/c1/bin-7/x", payload, "bin-7", 1) is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_builds_in_a_moto_server_twice(aws_env: None) -> None:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        first = create_resources(endpoint, REGION)
        second = create_resources(endpoint, REGION)
        assert first == second
        assert first.secrets == second.secrets
        assert first.queues["DeviceEventsQueue"].url.startswith(endpoint)
        assert first.tables["OutboxTable"].stream_arn
    finally:
        server.stop()
