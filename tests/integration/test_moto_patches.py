"""localcloud.moto_patches: moto's TransactWriteItems without the O(table) deep copy — same effects, same errors.

Each scenario runs twice, in two fresh ``mock_aws`` contexts — once with the patch, once with moto's own
``transact_write_items`` — and the results are compared: every item (full scans), the GSI, and every stream
record (full reads from TRIM_HORIZON, minus the random ``eventID`` and the timestamp).

Rates that must not depend on table size are compared in this process's CPU time (``time.process_time``),
so another test worker busy on the same cores does not skew the comparison.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from localcloud import moto_patches

REGION = "us-east-1"
MAIN, OTHER = "main", "other"  # MAIN: pk+sk with GSI by_status; OTHER: id only. Both stream NEW_AND_OLD_IMAGES.
STATUSES = ("open", "closed", "gone")


# Fake credentials and the region come from the autouse ``aws_credentials`` fixture in tests/conftest.py.


@contextmanager
def _patch_state(patched: bool) -> Iterator[None]:
    """The patch installed (or moto's own method) for the duration, then as it was before."""
    was = moto_patches.installed()
    if patched:
        moto_patches.install()
    else:
        moto_patches.uninstall()
    try:
        yield
    finally:
        if was:
            moto_patches.install()
        else:
            moto_patches.uninstall()


# ------------------------------------------------------------------------------------------ the world
def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _main_key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": _s(pk), "sk": _s(sk)}


class Aws:
    def __init__(self) -> None:
        self.ddb: Any = boto3.client("dynamodb", region_name=REGION)
        self.streams: Any = boto3.client("dynamodbstreams", region_name=REGION)
        self.stream_arns: dict[str, str] = {}
        self.table_arns: dict[str, str] = {}

    def create_tables(self) -> None:
        stream = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        main = self.ddb.create_table(
            TableName=MAIN, BillingMode="PAY_PER_REQUEST", StreamSpecification=stream,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "status")],
            GlobalSecondaryIndexes=[{
                "IndexName": "by_status", "Projection": {"ProjectionType": "ALL"},
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                              {"AttributeName": "pk", "KeyType": "RANGE"}],
            }])["TableDescription"]
        other = self.ddb.create_table(
            TableName=OTHER, BillingMode="PAY_PER_REQUEST", StreamSpecification=stream,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])["TableDescription"]
        for description in (main, other):
            self.stream_arns[description["TableName"]] = description["LatestStreamArn"]
            self.table_arns[description["TableName"]] = description["TableArn"]

    def seed(self) -> None:
        self.ddb.put_item(TableName=MAIN, Item={**_main_key("h1", "a"), "status": _s("open"), "n": _n(1),
                                                "tags": {"SS": ["x"]}, "doc": {"M": {"inner": {"L": [_n(1)]}}}})
        self.ddb.put_item(TableName=MAIN, Item={**_main_key("h1", "b"), "status": _s("open")})
        self.ddb.put_item(TableName=MAIN, Item={**_main_key("h2", "a"), "status": _s("closed")})
        self.ddb.put_item(TableName=MAIN, Item={**_main_key("h3", "a"), "status": _s("open"), "n": _n(5)})
        self.ddb.update_item(TableName=MAIN, Key=_main_key("h3", "a"), UpdateExpression="ADD n :one",
                             ExpressionAttributeValues={":one": _n(1)})  # a MODIFY record too
        self.ddb.put_item(TableName=OTHER, Item={"id": _s("o1"), "n": _n(0)})
        self.ddb.put_item(TableName=OTHER, Item={"id": _s("o2"), "n": _n(7)})

    def scan(self, table: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": table}
        while True:
            page = self.ddb.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def gsi(self, status: str) -> list[dict[str, Any]]:
        return list(self.ddb.query(TableName=MAIN, IndexName="by_status", KeyConditionExpression="#s = :s",
                                   ExpressionAttributeNames={"#s": "status"},
                                   ExpressionAttributeValues={":s": _s(status)})["Items"])

    def records(self, table: str, iterator: str | None = None) -> list[dict[str, Any]]:
        """Every record of the table's stream (from TRIM_HORIZON, or from ``iterator``)."""
        arn = self.stream_arns[table]
        if iterator is None:
            shard_id = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
            iterator = self.streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id,
                                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records: list[dict[str, Any]] = []
        while True:
            page = self.streams.get_records(ShardIterator=iterator)
            if not page["Records"]:
                return records
            records += [_comparable(record) for record in page["Records"]]
            iterator = page["NextShardIterator"]

    def latest_iterator(self, table: str) -> str:
        arn = self.stream_arns[table]
        shard_id = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        return str(self.streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id,
                                                   ShardIteratorType="LATEST")["ShardIterator"])

    def state(self) -> dict[str, Any]:
        """Everything a transaction could have changed, as the API shows it."""
        return {
            "items": {table: self.scan(table) for table in (MAIN, OTHER)},
            "gsi": {status: self.gsi(status) for status in STATUSES},
            "records": {table: self.records(table) for table in (MAIN, OTHER)},
            "item_count": {table: self.ddb.describe_table(TableName=table)["Table"]["ItemCount"]
                           for table in (MAIN, OTHER)},
        }


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    record = json.loads(json.dumps(record, default=str))
    record.pop("eventID")  # random
    record["dynamodb"].pop("ApproximateCreationDateTime")  # the clock
    return record


def _across_runs(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` without what differs between two runs of the same scenario: a record's SizeBytes is the
    length of its JSON, timestamp included (moto renders the clock with a varying number of digits)."""
    state = json.loads(json.dumps(state))
    for records in state["records"].values():
        for record in records:
            record["dynamodb"].pop("SizeBytes")
    return state


def _error(exc: ClientError) -> dict[str, Any]:
    return {"Code": exc.response["Error"]["Code"], "Message": exc.response["Error"]["Message"],
            "CancellationReasons": exc.response.get("CancellationReasons")}


@dataclass
class Outcome:
    before: dict[str, Any]
    after: dict[str, Any]
    error: dict[str, Any] | None


def _outcome(patched: bool, transact_items: list[dict[str, Any]]) -> Outcome:
    """Run one transaction against the seeded world, in a fresh moto, with or without the patch."""
    with _patch_state(patched), mock_aws():
        aws = Aws()
        aws.create_tables()
        aws.seed()
        before = aws.state()
        error = None
        try:
            aws.ddb.transact_write_items(TransactItems=transact_items)
        except ClientError as exc:
            error = _error(exc)
        return Outcome(before, aws.state(), error)


def _both(transact_items: list[dict[str, Any]]) -> tuple[Outcome, Outcome]:
    return _outcome(True, transact_items), _outcome(False, transact_items)


# ---------------------------------------------------------------------------------------- transactions
PUT_NEW = {"Put": {"TableName": MAIN, "Item": {**_main_key("h4", "a"), "status": _s("open"), "n": _n(0)},
                   "ConditionExpression": "attribute_not_exists(pk)"}}
UPDATE_EXISTING = {"Update": {
    "TableName": MAIN, "Key": _main_key("h1", "a"),
    "UpdateExpression": "SET #s = :closed, doc.#i[0] = :two ADD n :one, tags :t",
    "ConditionExpression": "#s = :open",
    "ExpressionAttributeNames": {"#s": "status", "#i": "inner"},
    "ExpressionAttributeValues": {":closed": _s("closed"), ":open": _s("open"), ":two": _n(2), ":one": _n(1),
                                  ":t": {"SS": ["y"]}}}}
UPDATE_ABSENT = {"Update": {"TableName": MAIN, "Key": _main_key("h9", "z"), "UpdateExpression": "SET #s = :gone",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {":gone": _s("gone")}}}
DELETE_EXISTING = {"Delete": {"TableName": MAIN, "Key": _main_key("h1", "b"),
                              "ConditionExpression": "attribute_exists(pk)"}}
CHECK_PASSES = {"ConditionCheck": {"TableName": MAIN, "Key": _main_key("h3", "a"), "ConditionExpression": "n = :six",
                                   "ExpressionAttributeValues": {":six": _n(6)}}}
CHECK_FAILS = {"ConditionCheck": {"TableName": MAIN, "Key": _main_key("h3", "a"), "ConditionExpression": "n = :seven",
                                  "ExpressionAttributeValues": {":seven": _n(7)},
                                  "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}
UPDATE_OTHER = {"Update": {"TableName": OTHER, "Key": {"id": _s("o1")}, "UpdateExpression": "ADD n :one",
                           "ExpressionAttributeValues": {":one": _n(1)}}}
PUT_OTHER = {"Put": {"TableName": OTHER, "Item": {"id": _s("o3"), "n": _n(3)}}}
DELETE_OTHER_FAILS = {"Delete": {"TableName": OTHER, "Key": {"id": _s("o2")}, "ConditionExpression": "n = :zero",
                                 "ExpressionAttributeValues": {":zero": _n(0)}}}


def test_successful_transaction_has_the_same_effect_as_moto() -> None:
    items = [PUT_NEW, UPDATE_EXISTING, UPDATE_ABSENT, DELETE_EXISTING, CHECK_PASSES, UPDATE_OTHER]
    patched, unpatched = _both(items)

    assert patched.error is None
    assert unpatched.error is None
    assert _across_runs(patched.before) == _across_runs(unpatched.before)
    assert _across_runs(patched.after) == _across_runs(unpatched.after)  # items, GSI, stream records, counts
    # and the transaction did what it says
    after = patched.after
    keys = {(item["pk"]["S"], item["sk"]["S"]) for item in after["items"][MAIN]}
    assert keys == {("h1", "a"), ("h2", "a"), ("h3", "a"), ("h4", "a"), ("h9", "z")}
    assert [item["pk"]["S"] for item in after["gsi"]["closed"]] == ["h1", "h2"]
    assert [item["pk"]["S"] for item in after["gsi"]["gone"]] == ["h9"]
    new_records = after["records"][MAIN][len(patched.before["records"][MAIN]):]
    # moto records an update that creates an item as two INSERTs (the bare key, then the item)
    assert [record["eventName"] for record in new_records] == ["INSERT", "MODIFY", "INSERT", "INSERT", "REMOVE"]
    assert len(after["records"][OTHER]) == len(patched.before["records"][OTHER]) + 1


def test_cancelled_on_the_last_item_leaves_everything_as_before() -> None:
    items = [PUT_NEW, UPDATE_ABSENT, UPDATE_EXISTING, DELETE_EXISTING, UPDATE_OTHER, CHECK_FAILS]
    patched, unpatched = _both(items)

    assert patched.error is not None
    assert patched.error["Code"] == "TransactionCanceledException"
    reasons = patched.error["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["None"] * 5 + ["ConditionalCheckFailed"]
    assert reasons[-1]["Item"]["n"] == _n(6)  # ReturnValuesOnConditionCheckFailure=ALL_OLD
    assert patched.after == patched.before  # items, GSI, stream records, item counts
    assert patched.error == unpatched.error
    assert unpatched.after == unpatched.before


def test_cross_table_transaction_is_rolled_back_on_both_tables() -> None:
    items = [PUT_OTHER, UPDATE_EXISTING, DELETE_EXISTING, UPDATE_OTHER, PUT_NEW, DELETE_OTHER_FAILS]
    patched, unpatched = _both(items)

    assert patched.error is not None
    assert [reason["Code"] for reason in patched.error["CancellationReasons"]] == ["None"] * 5 + [
        "ConditionalCheckFailed"]
    assert patched.after["items"] == patched.before["items"]
    assert patched.after["records"] == patched.before["records"]
    assert patched.after == patched.before
    assert patched.error == unpatched.error
    assert unpatched.after == unpatched.before


SAME_ITEM_TWICE = [PUT_NEW, UPDATE_OTHER, UPDATE_EXISTING,
                   {"Delete": {"TableName": MAIN, "Key": _main_key("h1", "a")}}]
ERROR_CASES = {
    "two operations on one item": SAME_ITEM_TWICE,
    "key without its range key": [PUT_NEW, {"Delete": {"TableName": MAIN, "Key": {"pk": _s("h1")}}}],
    "a table that does not exist": [PUT_NEW, UPDATE_OTHER,
                                    {"ConditionCheck": {"TableName": "nope", "Key": {"id": _s("x")},
                                                        "ConditionExpression": "attribute_exists(id)"}}],
    "an update that fails on the item": [PUT_NEW, UPDATE_OTHER, {"Update": {
        "TableName": MAIN, "Key": _main_key("h2", "a"), "UpdateExpression": "SET n = #s + :one",
        "ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": {":one": _n(1)}}}],
    "several conditions fail": [DELETE_OTHER_FAILS, PUT_NEW, CHECK_FAILS],
}


@pytest.mark.parametrize("transact_items", list(ERROR_CASES.values()), ids=list(ERROR_CASES))
def test_errors_are_the_same_as_moto(transact_items: list[dict[str, Any]]) -> None:
    patched, unpatched = _both(transact_items)

    assert patched.error is not None
    assert patched.error == unpatched.error
    assert patched.after == patched.before
    assert unpatched.after == unpatched.before


def test_two_operations_on_one_item_is_a_validation_error() -> None:
    patched = _outcome(True, SAME_ITEM_TWICE)

    assert patched.error == {"Code": "ValidationException", "CancellationReasons": None,
                             "Message": "Transaction request cannot include multiple operations on one item"}


def test_where_the_patch_deliberately_differs_from_moto() -> None:
    """Three moto bugs that come from (or slip past) its deep copy: the patch rolls these back too."""
    with _patch_state(True), mock_aws():
        aws = Aws()
        aws.create_tables()
        aws.seed()
        before = aws.state()
        reader = aws.latest_iterator(MAIN)  # a stream reader that was there before (the hub's stream pump)

        # 1. a table named by its ARN (moto only snapshots tables named by name)
        by_arn = {"Put": {**PUT_NEW["Put"], "TableName": aws.table_arns[MAIN]}}
        with pytest.raises(ClientError) as cancelled:
            aws.ddb.transact_write_items(TransactItems=[by_arn, CHECK_FAILS])
        assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
        assert aws.state() == before

        # 2. an entry with several operations (moto raises without undoing the writes before it)
        with pytest.raises(ClientError) as invalid:
            aws.ddb.transact_write_items(TransactItems=[PUT_NEW, {**UPDATE_OTHER, **DELETE_EXISTING}])
        assert _error(invalid.value) == {
            "Code": "ValidationException", "CancellationReasons": None,
            "Message": "TransactItems can only contain one of Check, Put, Update or Delete"}
        assert aws.state() == before

        # 3. a reader's shard iterator keeps reading the live stream: no records of the cancelled
        #    transactions, and the next write (moto swaps in a copy of the table: the reader would see the
        #    cancelled writes and never the later ones)
        aws.ddb.put_item(TableName=MAIN, Item={**_main_key("h5", "a"), "status": _s("open")})
        seen = aws.records(MAIN, reader)
        assert [(record["eventName"], record["dynamodb"]["Keys"]) for record in seen] == [
            ("INSERT", _main_key("h5", "a"))]


def test_install_is_idempotent() -> None:
    with _patch_state(True):
        moto_patches.install()
        moto_patches.install()
        assert moto_patches.installed()
        moto_patches.uninstall()
        assert not moto_patches.installed()


# ---------------------------------------------------------------------------------------------- speed
def _rate(preloaded: int, transactions: int = 200) -> float:
    """Single-item transactions per second against a table already holding ``preloaded`` items."""
    with mock_aws():
        aws = Aws()
        aws.create_tables()
        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
        for i in range(preloaded):  # straight into the backend: 5,000 API puts would take longer than the test
            backend.put_item(MAIN, {**_main_key(f"d{i:05d}", "s"), "status": _s(STATUSES[i % 3]), "n": _n(0),
                                    "body": _s("x" * 200)})

        def transact(i: int) -> None:
            aws.ddb.transact_write_items(TransactItems=[{"Update": {
                "TableName": MAIN, "Key": _main_key(f"d{i % preloaded:05d}", "s"),
                "UpdateExpression": "ADD n :one", "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": {":one": _n(1)}}}])

        for i in range(20):  # warm up
            transact(i)
        started = time.process_time()
        for i in range(transactions):
            transact(i)
        return transactions / (time.process_time() - started)


def test_transaction_rate_does_not_depend_on_table_size() -> None:
    with _patch_state(True):
        small = _rate(50)
        large = _rate(5_000)
    print(f"\ntransact_write_items: {small:.0f} txn/s at 50 items, {large:.0f} txn/s at 5,000 items")
    assert small / large < 2, f"{small:.0f} txn/s at 50 items but {large:.0f} txn/s at 5,000"


# ----------------------------------------------------------------------------------- base-table query
QUERIES: dict[str, dict[str, Any]] = {
    "partition": {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": _s("q2")}},
    "newest first": {"KeyConditionExpression": "pk = :p", "ScanIndexForward": False,
                     "ExpressionAttributeValues": {":p": _s("q2")}},
    "range condition": {"KeyConditionExpression": "pk = :p AND begins_with(sk, :e)",
                        "ExpressionAttributeValues": {":p": _s("q2"), ":e": _s("E#1")}},
    "between, filter, projection": {
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b", "FilterExpression": "n > :two",
        "ProjectionExpression": "pk, sk, n",
        "ExpressionAttributeValues": {":p": _s("q2"), ":a": _s("E#03"), ":b": _s("E#17"), ":two": _n(2)}},
    "absent partition": {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": _s("nope")}},
}


def _query_results(patched: bool) -> dict[str, Any]:
    """Each query of QUERIES, paged three items at a time, plus a hash-only table and an index query."""
    with _patch_state(patched), mock_aws():
        aws = Aws()
        aws.create_tables()
        for i in range(20):  # three interleaved partitions, inserted out of order
            for pk in ("q3", "q1", "q2"):
                aws.ddb.put_item(TableName=MAIN, Item={**_main_key(pk, f"E#{(i * 7) % 20:02d}"),
                                                       "status": _s(STATUSES[i % 3]), "n": _n(i % 5)})
        aws.ddb.put_item(TableName=OTHER, Item={"id": _s("o1"), "n": _n(1)})
        aws.ddb.put_item(TableName=OTHER, Item={"id": _s("o2"), "n": _n(2)})
        results: dict[str, Any] = {}
        for name, query in QUERIES.items():
            pages, kwargs = [], {"TableName": MAIN, "Limit": 3, **query}
            while True:
                page = aws.ddb.query(**kwargs)
                pages.append({k: page.get(k) for k in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")})
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            results[name] = pages
        results["hash-only"] = aws.ddb.query(TableName=OTHER, KeyConditionExpression="id = :i",
                                             ExpressionAttributeValues={":i": _s("o2")})["Items"]
        results["index"] = aws.gsi("open")
        return results


def test_base_table_queries_are_the_same_as_moto() -> None:
    patched, unpatched = _query_results(True), _query_results(False)

    assert patched == unpatched
    assert [item["sk"]["S"] for page in patched["partition"] for item in page["Items"]] == [
        f"E#{i:02d}" for i in range(20)]
    assert len(patched["partition"]) == 7  # paged: 20 items, 3 a page
    assert patched["absent partition"] == [{"Items": [], "Count": 0, "ScannedCount": 0, "LastEvaluatedKey": None}]


def _query_rate(preloaded: int, queries: int = 100) -> float:
    """Queries per second of a 10-item partition in a table that also holds ``preloaded`` other items."""
    with mock_aws():
        aws = Aws()
        aws.create_tables()
        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
        for i in range(preloaded):
            backend.put_item(MAIN, {**_main_key(f"d{i:05d}", "s"), "status": _s(STATUSES[i % 3]),
                                    "body": _s("x" * 200)})
        for i in range(10):
            backend.put_item(MAIN, {**_main_key("mine", f"{i:02d}"), "status": _s("open")})
        for _ in range(10):  # warm up
            aws.ddb.query(TableName=MAIN, KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={":p": _s("mine")})
        started = time.process_time()
        for _ in range(queries):
            page = aws.ddb.query(TableName=MAIN, KeyConditionExpression="pk = :p",
                                 ExpressionAttributeValues={":p": _s("mine")})
            assert page["Count"] == 10
        return queries / (time.process_time() - started)


def test_query_rate_does_not_depend_on_table_size() -> None:
    with _patch_state(True):
        small = _query_rate(50)
        large = _query_rate(5_000)
    print(f"\nquery: {small:.0f}/s at 50 items, {large:.0f}/s at 5,000 items")
    assert small / large < 2, f"{small:.0f} queries/s at 50 items but {large:.0f}/s at 5,000"


# ------------------------------------------------------------------------------------------------- SQS
def _sqs_story(patched: bool) -> dict[str, Any]:
    """Sends (some delayed), receives, a retention-expired message, attributes after each step."""
    from moto.sqs.models import sqs_backends

    with _patch_state(patched), mock_aws():
        sqs: Any = boto3.client("sqs", region_name=REGION)
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(QueueName="q", Attributes={
            "VisibilityTimeout": "60", "MessageRetentionPeriod": "120",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})["QueueUrl"]
        counts = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                  "ApproximateNumberOfMessagesDelayed", "MessageRetentionPeriod")

        def attributes() -> dict[str, str]:
            got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            return {name: got[name] for name in counts}

        story: dict[str, Any] = {}
        for i in range(6):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", DelaySeconds=600 if i == 5 else 0)
        story["sent"] = attributes()
        queue = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues["q"]
        expired: Any = queue._messages[0]
        expired.sent_timestamp -= 200_000  # m0 is past its retention period
        first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        story["first"] = [m["Body"] for m in first.get("Messages", [])]
        story["after first"] = attributes()
        second = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        story["second"] = [m["Body"] for m in second.get("Messages", [])]
        story["after second"] = attributes()
        return story


def test_sqs_behaves_as_moto() -> None:
    patched, unpatched = _sqs_story(True), _sqs_story(False)

    assert patched == unpatched
    assert patched["sent"]["ApproximateNumberOfMessages"] == "5"
    assert patched["sent"]["ApproximateNumberOfMessagesDelayed"] == "1"


def _sqs_rate(backlog: int, rounds: int = 30) -> float:
    """Rounds per second of (send one, receive up to ten) on a queue holding ``backlog`` messages."""
    from moto.sqs.models import sqs_backends

    with mock_aws():
        sqs: Any = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "600"})["QueueUrl"]
        backend = sqs_backends[DEFAULT_ACCOUNT_ID][REGION]
        for i in range(backlog):
            backend.send_message("q", f"b{i}")
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])  # warm up the client
        started = time.process_time()
        for i in range(rounds):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
            assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                           MessageAttributeNames=["All"])["Messages"]) == 10
        return rounds / (time.process_time() - started)


def test_sqs_rate_does_not_depend_much_on_backlog() -> None:
    with _patch_state(True):
        small = _sqs_rate(400)
        large = _sqs_rate(2_000)
    print(f"\nsqs send+receive: {small:.0f}/s with 400 queued, {large:.0f}/s with 2,000 queued")
    assert small / large < 2, f"{small:.0f}/s with 400 queued but {large:.0f}/s with 2,000"


# ----------------------------------------------------------------------------------------- per request
def test_per_request_lookups_answer_as_moto() -> None:
    from moto import backends
    from moto.core import responses
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    with _patch_state(False):
        modules = list(backends.list_of_moto_modules())
        names = {cls: list(vars(responses)["method_names_from_class"](cls)) for cls in (DynamoHandler, SQSResponse)}
    with _patch_state(True):
        assert list(backends.list_of_moto_modules()) == modules
        assert {cls: list(vars(responses)["method_names_from_class"](cls)) for cls in names} == names
    assert "dynamodb" in modules and "sqs" in modules


# ----------------------------------------------------------------------------------------------- items
def _size_limit_story(patched: bool) -> dict[str, Any]:
    """Items just under and just over moto's item size limit, put and then updated past it."""
    with _patch_state(patched), mock_aws():
        aws = Aws()
        aws.create_tables()
        story: dict[str, Any] = {}
        for name, size in (("under", 404_000), ("over", 406_000), ("many attributes", 4_040)):
            attributes = ({f"a{i:03d}": _s("x" * 100) for i in range(size // 100)} if name == "many attributes"
                          else {"body": _s("x" * size)})
            try:
                aws.ddb.put_item(TableName=MAIN, Item={**_main_key(name, "s"), **attributes, "n": _n(1)})
                story[name] = aws.ddb.get_item(TableName=MAIN, Key=_main_key(name, "s"))["Item"]
            except ClientError as exc:
                story[name] = _error(exc)
        try:
            aws.ddb.update_item(TableName=MAIN, Key=_main_key("under", "s"), UpdateExpression="SET more = :m",
                                ExpressionAttributeValues={":m": _s("y" * 2_000)})
        except ClientError as exc:
            story["update past the limit"] = _error(exc)
        return story


def test_item_size_limit_is_the_same_as_moto() -> None:
    patched, unpatched = _size_limit_story(True), _size_limit_story(False)

    assert patched == unpatched
    assert "body" in patched["under"] and len(patched["many attributes"]) == 43
    assert patched["over"]["Code"] == "ValidationException"
    assert patched["update past the limit"]["Code"] == "ValidationException"


# ------------------------------------------------------------------------------------ secondary indexes
IDX, SOLO = "idx", "solo"  # IDX: pk+sk, GSIs by_owner (owner, at), sparse (flag), by_rank (rank: N), by_tag
#                            (tag, queried only at the end), LSI by_at (pk, at). SOLO: id only, GSI by_owner.
OWNERS = ("o0", "o1", "o2", "o3")


def _create_index_tables(ddb: Any) -> None:
    def gsi(name: str, hash_attr: str, range_attr: str | None = None) -> dict[str, Any]:
        schema = [{"AttributeName": hash_attr, "KeyType": "HASH"}]
        if range_attr:
            schema.append({"AttributeName": range_attr, "KeyType": "RANGE"})
        return {"IndexName": name, "KeySchema": schema, "Projection": {"ProjectionType": "ALL"}}

    types = {"pk": "S", "sk": "S", "owner": "S", "at": "S", "flag": "S", "rank": "N", "tag": "S"}
    ddb.create_table(
        TableName=IDX, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": kind} for name, kind in types.items()],
        GlobalSecondaryIndexes=[gsi("by_owner", "owner", "at"), gsi("sparse", "flag"), gsi("by_rank", "rank"),
                                gsi("by_tag", "tag", "at")],
        LocalSecondaryIndexes=[{"IndexName": "by_at", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                              {"AttributeName": "at", "KeyType": "RANGE"}]}])
    ddb.create_table(
        TableName=SOLO, BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                              {"AttributeName": "owner", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[gsi("by_owner", "owner")])


def _idx_key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": _s(pk), "sk": _s(sk)}


def _seed_index_tables(ddb: Any) -> None:
    """60 IDX items in 6 partitions, inserted out of order: 4 owners with repeated ``at`` values (ties broken
    by the table keys), some without an owner or without ``at`` (not in by_owner), every third flagged,
    ranks written as "1", "1.0" and "2"; 12 SOLO items, some without an owner."""
    rows = [(p, i) for p in range(6) for i in range(10)]
    rows = rows[7:] + rows[:7]
    rows.reverse()
    for p, i in rows:
        item: dict[str, Any] = {**_idx_key(f"p{p}", f"s{i:02d}"), "n": _n(p * 10 + i), "body": _s(f"b{p}{i}")}
        if (p + i) % 7:
            item["owner"] = _s(OWNERS[(p * 3 + i) % 4])
        if i != 4:
            item["at"] = _s(f"2024-0{1 + i % 3}-{(p + i) % 5:02d}")
        if i % 3 == 0:
            item["flag"] = _s("yes")
        item["rank"] = _n(1) if i % 2 else ({"N": "1.0"} if i % 4 else _n(2))
        item["tag"] = _s(f"t{i % 2}")
        ddb.put_item(TableName=IDX, Item=item)
    for i in (5, 1, 9, 0, 11, 3, 7, 2, 10, 4, 8, 6):
        item = {"id": _s(f"id{i:02d}"), "n": _n(i)}
        if i % 5:
            item["owner"] = _s(OWNERS[i % 3])
        ddb.put_item(TableName=SOLO, Item=item)


def _owner(owner: str, condition: str = "", **values: dict[str, str]) -> dict[str, Any]:
    return {"TableName": IDX, "IndexName": "by_owner", "KeyConditionExpression": f"#o = :o{condition}",
            "ExpressionAttributeNames": {"#o": "owner"}, "ExpressionAttributeValues": {":o": _s(owner), **values}}


INDEX_QUERIES: dict[str, dict[str, Any]] = {
    **{f"owner {owner}": _owner(owner) for owner in OWNERS},
    "owner absent": _owner("nobody"),
    "at =": _owner("o1", " AND #a = :a", **{":a": _s("2024-02-01")}) | {
        "ExpressionAttributeNames": {"#o": "owner", "#a": "at"}},
    "at <": _owner("o2", " AND #a < :a", **{":a": _s("2024-02-02")}) | {
        "ExpressionAttributeNames": {"#o": "owner", "#a": "at"}},
    "at >=": _owner("o0", " AND #a >= :a", **{":a": _s("2024-02-02")}) | {
        "ExpressionAttributeNames": {"#o": "owner", "#a": "at"}},
    "begins_with": _owner("o3", " AND begins_with(#a, :a)", **{":a": _s("2024-03")}) | {
        "ExpressionAttributeNames": {"#o": "owner", "#a": "at"}},
    "between, newest first": _owner("o1", " AND #a BETWEEN :a AND :b",
                                    **{":a": _s("2024-01-02"), ":b": _s("2024-03-01")}) | {
        "ExpressionAttributeNames": {"#o": "owner", "#a": "at"}, "ScanIndexForward": False},
    "newest first": _owner("o2") | {"ScanIndexForward": False},
    "filter and projection": _owner("o3") | {
        "FilterExpression": "n > :ten", "ProjectionExpression": "pk, sk, #o, n",
        "ExpressionAttributeValues": {":o": _s("o3"), ":ten": _n(10)}},
    "sparse": {"TableName": IDX, "IndexName": "sparse", "KeyConditionExpression": "flag = :y",
               "ExpressionAttributeValues": {":y": _s("yes")}},
    "sparse, newest first": {"TableName": IDX, "IndexName": "sparse", "KeyConditionExpression": "flag = :y",
                             "ExpressionAttributeValues": {":y": _s("yes")}, "ScanIndexForward": False},
    "rank 1.00 (N equality)": {"TableName": IDX, "IndexName": "by_rank", "KeyConditionExpression": "#r = :r",
                               "ExpressionAttributeNames": {"#r": "rank"},
                               "ExpressionAttributeValues": {":r": {"N": "1.00"}}},
    "lsi": {"TableName": IDX, "IndexName": "by_at", "KeyConditionExpression": "pk = :p AND #a > :a",
            "ExpressionAttributeNames": {"#a": "at"},
            "ExpressionAttributeValues": {":p": _s("p2"), ":a": _s("2024-01-02")}},
    "solo": {"TableName": SOLO, "IndexName": "by_owner", "KeyConditionExpression": "#o = :o",
             "ExpressionAttributeNames": {"#o": "owner"}, "ExpressionAttributeValues": {":o": _s("o1")}},
}
LATE_QUERIES: dict[str, dict[str, Any]] = {  # an index first asked for after all the writes
    "tag": {"TableName": IDX, "IndexName": "by_tag", "KeyConditionExpression": "tag = :t",
            "ExpressionAttributeValues": {":t": _s("t1")}},
}


def _pages(ddb: Any, query: dict[str, Any], limit: int | None) -> list[dict[str, Any]]:
    """Every page of ``query`` (``limit`` items a page), following LastEvaluatedKey."""
    pages, kwargs = [], dict(query, **({"Limit": limit} if limit else {}))
    while True:
        page = ddb.query(**kwargs)
        pages.append({k: page.get(k) for k in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")})
        if "LastEvaluatedKey" not in page:
            return pages
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _index_snapshot(ddb: Any, queries: dict[str, dict[str, Any]] = INDEX_QUERIES) -> dict[str, Any]:
    return {name: {"whole": _pages(ddb, query, None), "by 4": _pages(ddb, query, 4)}
            for name, query in queries.items()}


def _pks(snapshot: dict[str, Any], name: str) -> list[tuple[str, str]]:
    return [(item["pk"]["S"], item["sk"]["S"]) for page in snapshot[name]["whole"] for item in page["Items"]]


def _set_owner(owner: str) -> dict[str, Any]:
    return {"UpdateExpression": "SET #o = :o", "ExpressionAttributeNames": {"#o": "owner"},
            "ExpressionAttributeValues": {":o": _s(owner)}}


def _index_story(patched: bool) -> dict[str, Any]:
    """The index queries after each kind of write, in a fresh moto, with or without the patches."""
    with _patch_state(patched), mock_aws():
        ddb: Any = boto3.client("dynamodb", region_name=REGION)
        _create_index_tables(ddb)
        _seed_index_tables(ddb)
        story: dict[str, Any] = {"seeded": _index_snapshot(ddb)}  # (builds the indexes the writes then keep)

        # updates: move between owners, leave the sparse index, join it, lose the index range key
        ddb.update_item(TableName=IDX, Key=_idx_key("p0", "s01"), **_set_owner("o2"))
        ddb.update_item(TableName=IDX, Key=_idx_key("p1", "s02"), UpdateExpression="REMOVE #o, flag",
                        ExpressionAttributeNames={"#o": "owner"})
        ddb.update_item(TableName=IDX, Key=_idx_key("p2", "s05"), UpdateExpression="SET flag = :y, #r = :r",
                        ExpressionAttributeNames={"#r": "rank"},
                        ExpressionAttributeValues={":y": _s("yes"), ":r": {"N": "2.0"}})
        ddb.update_item(TableName=IDX, Key=_idx_key("p3", "s06"), UpdateExpression="REMOVE #a",
                        ExpressionAttributeNames={"#a": "at"})
        ddb.update_item(TableName=IDX, Key=_idx_key("p9", "new"), UpdateExpression="SET #o = :o, #a = :a",
                        ExpressionAttributeNames={"#o": "owner", "#a": "at"},
                        ExpressionAttributeValues={":o": _s("o1"), ":a": _s("2024-01-01")})  # creates it
        with pytest.raises(ClientError):  # a failed condition changes nothing
            ddb.update_item(TableName=IDX, Key=_idx_key("p0", "s02"), ConditionExpression="n = :x",
                            **(_set_owner("o3") | {"ExpressionAttributeValues": {":o": _s("o3"), ":x": _n(-1)}}))
        ddb.update_item(TableName=SOLO, Key={"id": _s("id01")}, **_set_owner("o2"))
        story["updated"] = _index_snapshot(ddb)

        # puts over existing items and deletes
        ddb.put_item(TableName=IDX, Item={**_idx_key("p4", "s03"), "owner": _s("o0"), "at": _s("2024-01-01")})
        ddb.put_item(TableName=IDX, Item={**_idx_key("p4", "s05"), "n": _n(0)})  # out of every GSI
        ddb.delete_item(TableName=IDX, Key=_idx_key("p5", "s00"))
        ddb.delete_item(TableName=IDX, Key=_idx_key("p5", "s01"))
        ddb.delete_item(TableName=SOLO, Key={"id": _s("id02")})
        story["put and deleted"] = _index_snapshot(ddb)

        # a transaction that goes through, then one that is cancelled on its last item
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": IDX, "Item": {**_idx_key("p8", "t1"), "owner": _s("o3"), "at": _s("2024-02-03"),
                                                "flag": _s("yes")}}},
            {"Update": {"TableName": IDX, "Key": _idx_key("p0", "s03"), **_set_owner("o0")}},
            {"Delete": {"TableName": IDX, "Key": _idx_key("p1", "s03")}},
            {"Update": {"TableName": SOLO, "Key": {"id": _s("id03")}, **_set_owner("o1")}},
        ])
        story["transaction"] = _index_snapshot(ddb)
        with pytest.raises(ClientError) as cancelled:
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": IDX, "Item": {**_idx_key("p8", "t2"), "owner": _s("o1"),
                                                    "at": _s("2024-01-01"), "flag": _s("yes")}}},
                {"Put": {"TableName": IDX, "Item": {**_idx_key("p0", "s05"), "owner": _s("o3"),
                                                    "at": _s("2024-03-03")}}},
                {"Update": {"TableName": IDX, "Key": _idx_key("p0", "s06"), **_set_owner("o2")}},
                {"Update": {"TableName": IDX, "Key": _idx_key("p2", "s02"), "UpdateExpression": "REMOVE #o",
                            "ExpressionAttributeNames": {"#o": "owner"}}},
                {"Delete": {"TableName": IDX, "Key": _idx_key("p2", "s03")}},
                {"Update": {"TableName": SOLO, "Key": {"id": _s("id04")}, **_set_owner("o2")}},
                {"ConditionCheck": {"TableName": IDX, "Key": _idx_key("p3", "s03"),
                                    "ConditionExpression": "attribute_not_exists(pk)"}},
            ])
        story["cancelled"] = {"error": _error(cancelled.value), "queries": _index_snapshot(ddb)}

        # batch writes: puts (new and over existing) and deletes
        ddb.batch_write_item(RequestItems={
            IDX: [{"PutRequest": {"Item": {**_idx_key("p7", f"b{i}"), "owner": _s(OWNERS[i % 4]),
                                           "at": _s(f"2024-0{1 + i % 3}-0{i % 4}"), "flag": _s("yes")}}}
                  for i in range(6)]
            + [{"PutRequest": {"Item": {**_idx_key("p0", "s07"), "owner": _s("o1"), "at": _s("2024-03-01")}}},
               {"DeleteRequest": {"Key": _idx_key("p0", "s09")}}, {"DeleteRequest": {"Key": _idx_key("p3", "s00")}}],
            SOLO: [{"PutRequest": {"Item": {"id": _s("id20"), "owner": _s("o1")}}},
                   {"DeleteRequest": {"Key": {"id": _s("id06")}}}],
        })
        story["batch"] = _index_snapshot(ddb)
        story["late index"] = _index_snapshot(ddb, LATE_QUERIES)
        return story


def test_index_queries_are_the_same_as_moto() -> None:
    patched, unpatched = _index_story(True), _index_story(False)

    assert patched == unpatched  # every query, whole and 4 a page, after every kind of write
    seeded, updated = patched["seeded"], patched["updated"]
    everyone = {key for owner in OWNERS for key in _pks(seeded, f"owner {owner}")}
    assert everyone == {(f"p{p}", f"s{i:02d}") for p in range(6) for i in range(10) if (p + i) % 7 and i != 4}
    assert ("p0", "s04") not in everyone and ("p0", "s07") not in everyone  # no ``at``; no owner
    assert _pks(seeded, "owner absent") == []
    assert {pk_sk[1] for pk_sk in _pks(seeded, "sparse")} == {"s00", "s03", "s06", "s09"}
    assert len(_pks(seeded, "rank 1.00 (N equality)")) == 42  # "1" (30 items) and "1.0" (12)
    assert _pks(seeded, "newest first") == _pks(seeded, "owner o2")[::-1]
    for name in INDEX_QUERIES:  # the pages are the whole, cut in fours
        if "filter" not in name:
            assert [item for page in seeded[name]["by 4"] for item in page["Items"]] == [
                item for page in seeded[name]["whole"] for item in page["Items"]]
    assert len(seeded["owner o1"]["by 4"]) > 2

    assert ("p0", "s01") in _pks(updated, "owner o2") and ("p0", "s01") not in _pks(updated, "owner o1")
    assert all(("p1", "s02") not in _pks(updated, f"owner {owner}") for owner in OWNERS)
    assert ("p2", "s05") in _pks(updated, "sparse")
    assert ("p3", "s06") not in _pks(updated, f"owner {OWNERS[(9 + 6) % 4]}")
    assert ("p9", "new") in _pks(updated, "owner o1")
    after_writes = patched["put and deleted"]
    assert ("p4", "s03") in _pks(after_writes, "owner o0")
    assert all(("p4", "s05") not in _pks(after_writes, name) for name in INDEX_QUERIES if name != "solo")
    assert ("p5", "s01") not in _pks(after_writes, f"owner {OWNERS[(15 + 1) % 4]}")
    committed = patched["transaction"]
    assert ("p8", "t1") in _pks(committed, "owner o3") and ("p8", "t1") in _pks(committed, "sparse")
    assert ("p0", "s03") in _pks(committed, "owner o0")
    assert patched["cancelled"]["error"]["Code"] == "TransactionCanceledException"
    assert patched["cancelled"]["queries"] == committed  # the cancelled writes left no trace in any index
    batch = patched["batch"]
    assert {pk_sk for pk_sk in _pks(batch, "sparse") if pk_sk[0] == "p7"} == {("p7", f"b{i}") for i in range(6)}
    assert ("p0", "s07") in _pks(batch, "owner o1") and ("p0", "s09") not in _pks(batch, "sparse")
    assert len(_pks(patched["late index"], "tag")) > 20


def test_index_is_rebuilt_after_writes_made_while_uninstalled() -> None:
    query = _owner("o2")
    with _patch_state(True), mock_aws():
        ddb: Any = boto3.client("dynamodb", region_name=REGION)
        _create_index_tables(ddb)
        _seed_index_tables(ddb)
        before = _pks(_index_snapshot(ddb, {"q": query}), "q")  # builds the index
        assert ("p0", "s01") not in before
        moto_patches.uninstall()
        ddb.update_item(TableName=IDX, Key=_idx_key("p0", "s01"), **_set_owner("o2"))  # moto's own update
        moto_patches.install()
        assert moto_patches.installed()
        after = _pks(_index_snapshot(ddb, {"q": query}), "q")
        assert sorted(after) == sorted([*before, ("p0", "s01")])


def test_mirrored_moto_sources_are_the_ones_read(caplog: pytest.LogCaptureFixture) -> None:
    from localcloud.moto_patches import index_query

    with _patch_state(False), caplog.at_level("WARNING", logger="localcloud.moto_patches"):
        index_query.warn_if_moto_changed()
    assert caplog.records == []


def _index_query_rate(preloaded: int, queries: int = 100) -> float:
    """GSI queries per second of a 10-item owner in a table that also holds ``preloaded`` other items."""
    with mock_aws():
        ddb: Any = boto3.client("dynamodb", region_name=REGION)
        _create_index_tables(ddb)
        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
        for i in range(preloaded):  # straight into the backend, in 100 owners
            backend.put_item(IDX, {**_idx_key(f"d{(i * 7919) % preloaded:05d}", "s"), "owner": _s(f"x{i % 100}"),
                                   "at": _s(f"{i:05d}"), "body": _s("x" * 200)})
        for i in range(10):
            backend.put_item(IDX, {**_idx_key(f"mine{i}", "s"), "owner": _s("me"), "at": _s(f"{i:02d}")})
        for _ in range(10):  # warm up (and build the index)
            ddb.query(**_owner("me"))
        started = time.process_time()
        for _ in range(queries):
            assert ddb.query(**_owner("me"))["Count"] == 10
        return queries / (time.process_time() - started)


def test_index_query_rate_does_not_depend_on_table_size() -> None:
    with _patch_state(True):
        small = _index_query_rate(50)
        large = _index_query_rate(5_000)
    print(f"\nindex query: {small:.0f}/s at 50 items, {large:.0f}/s at 5,000 items")
    assert small / large < 2, f"{small:.0f} index queries/s at 50 items but {large:.0f}/s at 5,000"
