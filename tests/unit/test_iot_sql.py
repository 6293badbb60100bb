import base64
import json

import pytest

from localcloud.iot_sql import UNDEFINED, IotSqlError, compile_rule, topic_matches
from tests.support.iot_rules import CATCH_ALL_SQL, KINDS, WEIGHIN_SQL

NOW = 1_700_000_000_123


def run(sql: str, topic: str, payload: bytes = b"{}", client_id: str = "bin-1"):
    return compile_rule(sql).evaluate(topic, payload, client_id, NOW)


def test_weighin_rule_outputs_topic_client_time_and_payload():
    payload = json.dumps({"event_id": "e1", "weight_g": 1200}).encode()
    out = run(WEIGHIN_SQL, "dt/linli/c1/bin-1/weighin", payload)
    assert out == {
        "payload_b64": base64.b64encode(payload).decode(),
        "topic": "dt/linli/c1/bin-1/weighin",
        "client_id": "bin-1",
        "received_at": NOW,
    }


def test_from_filter_must_match():
    assert run(WEIGHIN_SQL, "dt/linli/c1/bin-1/fill") is None
    assert run(WEIGHIN_SQL, "dt/linli/c1/weighin") is None
    assert run(WEIGHIN_SQL, "dt/linli/c1/bin-1/weighin/extra") is None


@pytest.mark.parametrize(
    ("topic", "topic_filter", "expected"),
    [
        ("a/b/c", "a/+/c", True),
        ("a/b/c", "a/#", True),
        ("a", "a/#", True),
        ("a/b", "a/+", True),
        ("a/b/c", "a/+", False),
        ("a", "a/+", False),
        ("b/x", "a/#", False),
        ("$aws/things", "#", False),
        ("a/b", "a/b", True),
    ],
)
def test_topic_matching(topic, topic_filter, expected):
    assert topic_matches(topic, topic_filter) is expected


def test_encode_base64_of_non_json_bytes():
    raw = b"\x00\xff\xfenot json\x80"
    out = run("SELECT encode(*, 'base64') AS b FROM 'x/#'", "x/y", raw)
    assert out == {"b": base64.b64encode(raw).decode()}


def test_topic_segments_and_undefined_segments_are_omitted():
    sql = "SELECT topic(1) AS one, topic(4) AS four, topic(5) AS five, topic(9) AS nine FROM 'dt/#'"
    assert run(sql, "dt/linli/c1/bin-1/weighin") == {"one": "dt", "four": "bin-1", "five": "weighin"}
    assert run(sql, "dt/linli/c1") == {"one": "dt"}


def test_star_merges_json_object_fields_and_nothing_for_other_payloads():
    sql = "SELECT *, topic(5) AS kind FROM 'dt/#'"
    assert run(sql, "dt/l/c/b/fill", b'{"fill_pct": 80}') == {"fill_pct": 80, "kind": "fill"}
    assert run(sql, "dt/l/c/b/fill", b"[1, 2]") == {"kind": "fill"}
    assert run(sql, "dt/l/c/b/fill", b"\xff") == {"kind": "fill"}


def test_keywords_and_function_names_are_case_insensitive():
    out = run("select topic() as t, CLIENTID() as c from 'a/#' where isundefined(topic(3))", "a/b")
    assert out == {"t": "a/b", "c": "bin-1"}


@pytest.mark.parametrize("kind", KINDS)
def test_catch_all_skips_known_kinds(kind):
    assert run(CATCH_ALL_SQL, f"dt/linli/c1/bin-1/{kind}") is None


@pytest.mark.parametrize(
    "topic",
    [
        "dt/linli/c1/bin-1/weight",  # unknown kind
        "dt/linli/c1/bin-1",  # too short: topic(5) undefined
        "dt/linli",  # much too short
        "dt/linli/c1/bin-1/weighin/extra",  # too long: topic(6) defined
        "dt/linli/c1/bin-1/weighin/",  # trailing slash makes an empty 6th level
    ],
)
def test_catch_all_takes_unknown_kinds_and_malformed_topics(topic):
    out = run(CATCH_ALL_SQL, topic, b"garbage", client_id="rogue")
    assert out is not None
    assert out["topic"] == topic
    assert out["client_id"] == "rogue"
    assert base64.b64decode(out["payload_b64"]) == b"garbage"


def test_catch_all_ignores_other_prefixes():
    assert run(CATCH_ALL_SQL, "cmd/linli/c1/bin-1/water") is None


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("topic(9) = 'x'", False),  # Undefined comparison -> not true
        ("topic(9) <> 'x'", False),
        ("NOT topic(9) = 'x'", False),  # NOT Undefined is Undefined
        ("NOT (topic(9) <> 'x')", False),
        ("topic(9) = 'x' OR topic(1) = 'a'", True),  # true OR Undefined -> true
        ("topic(9) = 'x' AND topic(1) = 'a'", False),  # Undefined AND true -> Undefined
        ("topic(9) = 'x' AND topic(1) = 'z'", False),
        ("NOT (topic(9) = 'x' AND topic(1) = 'z')", True),  # Undefined AND false -> false
        ("NOT (topic(9) = 'x' OR topic(1) = 'z')", False),  # Undefined OR false -> Undefined
        ("topic(1) = 'a' AND topic(2) = 'b'", True),
        ("topic(1) = 'a' AND NOT topic(2) = 'b'", False),
        ("(topic(1) = 'b' OR topic(2) = 'b') AND topic(1) <> 'b'", True),
        ("NOT topic(1) = 'b'", True),  # NOT binds looser than =
        ("topic(1) = topic(1)", True),
        ("'true'", True),  # case-insensitive "true"/"false" strings act as Booleans
        ("NOT 'FALSE'", True),
        ("topic(1)", False),  # a non-Boolean WHERE is not true
        ("timestamp() = '1700000000123'", True),
        ("isUndefined(topic(9)) = true", True),
    ],
)
def test_where_three_valued_logic(where, expected):
    out = run(f"SELECT topic() AS t FROM 'a/#' WHERE {where}", "a/b")  # noqa: S608 -- IoT SQL, not a DB
    assert (out is not None) is expected


def test_rule_is_reusable_across_messages():
    rule = compile_rule(WEIGHIN_SQL)
    first = rule.evaluate("dt/linli/c1/bin-1/weighin", b"1", "bin-1", 1)
    second = rule.evaluate("dt/linli/c2/bin-2/weighin", b"2", "bin-2", 2)
    assert first is not None
    assert second is not None
    assert (first["client_id"], second["client_id"]) == ("bin-1", "bin-2")
    assert rule.topic_filter == "dt/linli/+/+/weighin"


def test_undefined_is_falsy_singleton():
    assert not UNDEFINED
    assert repr(UNDEFINED) == "Undefined"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("", "expected SELECT"),
        ("SELECT topic() FROM 'a'", "needs 'AS name'"),
        ("SELECT topic() AS t", "expected FROM"),
        ("SELECT topic() AS t FROM a", "quoted topic filter"),
        ("SELECT topic() AS t FROM 'a/#/b'", "'#' must be the whole last level"),
        ("SELECT topic() AS t FROM 'a/b+'", "'+' must be a whole level"),
        ("SELECT topic() AS t FROM 'a' WHERE", "expected an expression"),
        ("SELECT topic() AS t FROM 'a' WHERE topic() > 'x'", "unsupported syntax"),
        ("SELECT topic() AS t FROM 'a' WHERE topic() != 'x'", "unsupported syntax"),
        ("SELECT kind AS s FROM 'a'", "payload field references are not supported: 'kind'"),
        ("SELECT state.reported AS s FROM 'a'", "unsupported syntax at position 12"),
        ("SELECT upper(topic()) AS t FROM 'a'", "unsupported function upper()"),
        ("SELECT encode(*, 'hex') AS t FROM 'a'", "only 'base64'"),
        ("SELECT encode(*) AS t FROM 'a'", "encode(value, 'base64')"),
        ("SELECT topic('x') AS t FROM 'a'", "segment number"),
        ("SELECT clientid(1) AS t FROM 'a'", "takes no arguments"),
        ("SELECT topic() AS t FROM 'a' WHERE topic() = 'x", "unterminated string"),
        ("SELECT topic() AS t, clientid() AS t FROM 'a'", "duplicate SELECT alias: t"),
        ("SELECT topic() AS t FROM 'a' WHERE (topic() = 'x'", "expected )"),
        ("SELECT topic() AS t FROM 'a' LIMIT 1", "unsupported syntax"),
        ("SELECT topic() AS t FROM ''", "empty"),
    ],
)
def test_invalid_or_unsupported_sql_raises_at_compile_time(sql, message):
    with pytest.raises(IotSqlError) as info:
        compile_rule(sql)
    assert message in str(info.value)
