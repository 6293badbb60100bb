"""localcloud.moto_patches: moto's TransactWriteItems without the O(table) deep copy — same effects, same errors.

Each scenario runs twice, in two fresh ``mock_aws`` contexts — once with the patch, once with moto's own
``transact_write_items`` — and the results are compared: every item (full scans), the GSI, and every stream
record (full reads from TRIM_HORIZON, minus the random ``eventID`` and the timestamp).
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
        started = time.perf_counter()
        for i in range(transactions):
            transact(i)
        return transactions / (time.perf_counter() - started)


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
        started = time.perf_counter()
        for _ in range(queries):
            page = aws.ddb.query(TableName=MAIN, KeyConditionExpression="pk = :p",
                                 ExpressionAttributeValues={":p": _s("mine")})
            assert page["Count"] == 10
        return queries / (time.perf_counter() - started)


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
        started = time.perf_counter()
        for i in range(rounds):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
            assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                           MessageAttributeNames=["All"])["Messages"]) == 10
        return rounds / (time.perf_counter() - started)


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
