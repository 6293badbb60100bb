"""localcloud.template: loading infra/template.yaml and resolving CloudFormation intrinsics."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcloud.template import (
    DEFAULT_TEMPLATE_PATH,
    Resolver,
    TemplateError,
    UnresolvedReference,
    dependency_order,
    load_template,
    references,
    resources_of_type,
)


@pytest.fixture
def resolver() -> Resolver:
    r = Resolver(region="cn-north-1", account_id="123456789012", partition="aws-cn")
    r.register("Queue", "https://sqs.local/123456789012/q", Arn="arn:aws-cn:sqs:cn-north-1:123456789012:q",
               QueueName="q")
    r.register("Table", "linli-hub", StreamArn="arn:aws-cn:dynamodb:cn-north-1:123456789012:table/t/stream/1")
    return r


def test_pseudo_parameters(resolver: Resolver) -> None:
    assert resolver.resolve({"Ref": "AWS::Region"}) == "cn-north-1"
    assert resolver.resolve({"Ref": "AWS::AccountId"}) == "123456789012"
    assert resolver.resolve({"Ref": "AWS::Partition"}) == "aws-cn"
    assert resolver.resolve({"Ref": "AWS::URLSuffix"}) == "amazonaws.com.cn"
    assert Resolver(region="us-east-1", account_id="1").url_suffix == "amazonaws.com"


def test_ref_and_getatt_in_both_forms(resolver: Resolver) -> None:
    assert resolver.resolve({"Ref": "Table"}) == "linli-hub"
    assert resolver.resolve({"Fn::GetAtt": ["Queue", "Arn"]}) == "arn:aws-cn:sqs:cn-north-1:123456789012:q"
    assert resolver.resolve({"Fn::GetAtt": "Queue.QueueName"}) == "q"


def test_resolves_nested_structures_and_leaves_plain_data(resolver: Resolver) -> None:
    value = {"RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["Queue", "Arn"]}, "maxReceiveCount": 5},
             "Names": [{"Ref": "Table"}, "plain", 3, True]}
    assert resolver.resolve(value) == {
        "RedrivePolicy": {"deadLetterTargetArn": "arn:aws-cn:sqs:cn-north-1:123456789012:q", "maxReceiveCount": 5},
        "Names": ["linli-hub", "plain", 3, True],
    }


def test_sub_with_pseudo_parameters_attributes_and_escapes(resolver: Resolver) -> None:
    text = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:client/${!iot:Connection.Thing.ThingName}"
    assert resolver.resolve({"Fn::Sub": text}) == (
        "arn:aws-cn:iot:cn-north-1:123456789012:client/${iot:Connection.Thing.ThingName}"
    )
    assert resolver.resolve({"Fn::Sub": "${Queue.Arn}/x ${Table}"}) == (
        "arn:aws-cn:sqs:cn-north-1:123456789012:q/x linli-hub"
    )


def test_sub_with_variable_map(resolver: Resolver) -> None:
    value = {"Fn::Sub": ["${Name}-${AWS::Region}", {"Name": {"Ref": "Table"}}]}
    assert resolver.resolve(value) == "linli-hub-cn-north-1"


def test_join_and_select(resolver: Resolver) -> None:
    assert resolver.resolve({"Fn::Join": ["/", ["a", {"Ref": "Table"}]]}) == "a/linli-hub"
    assert resolver.resolve({"Fn::Select": [1, ["a", {"Ref": "Table"}]]}) == "linli-hub"


def test_unknown_resource_names_what_is_missing(resolver: Resolver) -> None:
    with pytest.raises(UnresolvedReference) as info:
        resolver.resolve({"Fn::GetAtt": ["IotRuleRole", "Arn"]})
    assert (info.value.logical_id, info.value.attribute) == ("IotRuleRole", "Arn")
    with pytest.raises(UnresolvedReference):
        resolver.resolve({"Fn::Sub": "${Nope}"})
    with pytest.raises(UnresolvedReference):
        resolver.resolve({"Ref": "Nope"})


def test_unsupported_intrinsics_are_refused(resolver: Resolver) -> None:
    with pytest.raises(TemplateError):
        resolver.resolve({"Fn::If": ["Cond", "a", "b"]})
    with pytest.raises(TemplateError):
        resolver.resolve({"Fn::GetAtt": ["OnlyOne"]})
    with pytest.raises(TemplateError):
        resolver.resolve({"Ref": "AWS::NotificationARNs"})


def test_a_mapping_with_more_keys_is_data_not_an_intrinsic(resolver: Resolver) -> None:
    assert resolver.resolve({"Ref": "x", "Other": 1}) == {"Ref": "x", "Other": 1}


def test_references_finds_every_kind_and_skips_pseudo_escapes_and_locals() -> None:
    value = {
        "A": {"Ref": "HubTable"},
        "B": [{"Fn::GetAtt": ["DeviceEventsDLQ", "Arn"]}, {"Fn::GetAtt": "LambdaRole.Arn"}],
        "C": {"Fn::Sub": "${OutboxTable.Arn}/stream/* ${AWS::Region} ${!iot:ClientId} ${Local}"},
        "D": {"Fn::Sub": ["${X}", {"X": {"Ref": "AppSecret"}, "Local": "v"}]},
        "E": {"Ref": "AWS::AccountId"},
    }
    assert references(value) == {"HubTable", "DeviceEventsDLQ", "LambdaRole", "OutboxTable", "Local",
                                 "AppSecret"}


def test_dependency_order_puts_targets_first_and_keeps_template_order() -> None:
    template = {"Resources": {
        "Main": {"Type": "AWS::SQS::Queue",
                 "Properties": {"RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["DLQ", "Arn"]}}}},
        "Other": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "DLQ": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Outside": {"Type": "AWS::IAM::Role", "Properties": {"X": {"Ref": "Main"}}},
    }}
    assert dependency_order(template, ["Main", "Other", "DLQ"]) == ["DLQ", "Main", "Other"]


def test_dependency_order_refuses_cycles_and_unknown_ids() -> None:
    template = {"Resources": {
        "A": {"Type": "T", "Properties": {"X": {"Ref": "B"}}},
        "B": {"Type": "T", "Properties": {"X": {"Ref": "A"}}},
    }}
    with pytest.raises(TemplateError, match="circular"):
        dependency_order(template, ["A", "B"])
    with pytest.raises(TemplateError, match="not in the template"):
        dependency_order(template, ["C"])


def test_load_template_refuses_short_form_tags(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      X: !Ref Y\n")
    with pytest.raises(TemplateError, match="short-form"):
        load_template(path)


def test_load_template_needs_typed_resources(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("Outputs: {}\n")
    with pytest.raises(TemplateError, match="Resources"):
        load_template(path)
    path.write_text("Resources:\n  Q:\n    Properties: {}\n")
    with pytest.raises(TemplateError, match="Type"):
        load_template(path)


def test_the_repository_template_loads() -> None:
    template = load_template()
    assert load_template(DEFAULT_TEMPLATE_PATH) == template
    assert set(resources_of_type(template, "AWS::DynamoDB::Table")) == {"HubTable", "OutboxTable"}
