"""The hub's IoT rule SQL as the rule-engine tests use it (kept in step with infra/template.yaml)."""

KINDS = ("weighin", "fill", "meter", "access", "soil", "security", "heartbeat")
SELECT = (
    "SELECT encode(*, 'base64') AS payload_b64, topic() AS topic, clientid() AS client_id, timestamp() AS received_at"
)
WEIGHIN_SQL = f"{SELECT} FROM 'dt/linli/+/+/weighin'"
#: a single catch-all rule (three-valued WHERE over Undefined topic levels), a good exercise of the evaluator
CATCH_ALL_SQL = (
    f"{SELECT} FROM 'dt/linli/#' WHERE isUndefined(topic(5)) OR NOT isUndefined(topic(6)) OR ("
    + " AND ".join(f"topic(5) <> '{k}'" for k in KINDS)
    + ")"
)
