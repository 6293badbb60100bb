"""When a partner webhook is tried again, when an endpoint is given up on, and how secrets rotate."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pytest
from standardwebhooks import Webhook

from chalicelib.domain.webhooks import (
    AUTO_DISABLE_AFTER_MS,
    MAX_ATTEMPTS,
    RETRY_SCHEDULE_S,
    SECRET_OVERLAP_MS,
    SQS_MAX_DELAY_S,
    EndpointStatus,
    Outcome,
    SigningSecret,
    WebhookEndpoint,
    decide,
    message_id_for,
    new_secret,
    render_body,
    rotated,
    should_auto_disable,
)

NOW = 1_767_225_600_000


@dataclass(frozen=True)
class Answer:
    status: int | None
    retry_after_s: int | None = None


def test_the_schedule_is_the_published_one_and_allows_eight_attempts() -> None:
    assert RETRY_SCHEDULE_S == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert MAX_ATTEMPTS == 8
    assert SQS_MAX_DELAY_S == 900


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_any_2xx_is_delivered(status: int) -> None:
    assert decide(1, Answer(status), rand=0.5).outcome is Outcome.DELIVERED
    assert decide(MAX_ATTEMPTS, Answer(status), rand=0.5).outcome is Outcome.DELIVERED


def test_without_jitter_each_retry_waits_its_scheduled_time() -> None:
    for attempt, wait in enumerate(RETRY_SCHEDULE_S, start=1):
        decision = decide(attempt, Answer(500), rand=0.5)
        assert (decision.outcome, decision.delay_s) == (Outcome.RETRY, wait)


@pytest.mark.parametrize("status", [None, 301, 400, 404, 500, 503])
def test_after_the_eighth_failed_attempt_the_delivery_is_given_up(status: int | None) -> None:
    assert decide(MAX_ATTEMPTS - 1, Answer(status), rand=0.5).outcome is Outcome.RETRY
    assert decide(MAX_ATTEMPTS, Answer(status), rand=0.5).outcome is Outcome.GIVE_UP


@pytest.mark.parametrize("attempt", range(1, MAX_ATTEMPTS))
def test_jitter_stays_within_ten_percent_of_the_schedule(attempt: int) -> None:
    scheduled = RETRY_SCHEDULE_S[attempt - 1]
    delays = [decide(attempt, Answer(None), rand=r / 100).delay_s for r in range(100)]
    assert all(d is not None and scheduled * 0.9 <= d <= scheduled * 1.1 + 1 for d in delays)
    assert len(set(delays)) > 1  # it does spread
    lowest, highest = decide(attempt, Answer(None), rand=0.0).delay_s, decide(attempt, Answer(None), rand=0.999999)
    assert lowest is not None and highest.delay_s is not None and lowest < highest.delay_s


def test_410_disables_the_endpoint_even_on_the_last_attempt() -> None:
    assert decide(1, Answer(410), rand=0.5).outcome is Outcome.DISABLE_ENDPOINT
    assert decide(MAX_ATTEMPTS, Answer(410), rand=0.5).outcome is Outcome.DISABLE_ENDPOINT


@pytest.mark.parametrize("status", [429, 502, 504])
def test_retry_after_is_honoured_when_longer_than_the_schedule(status: int) -> None:
    assert decide(1, Answer(status, retry_after_s=120), rand=0.5).delay_s == 120
    # shorter than the schedule: the schedule wins
    assert decide(2, Answer(status, retry_after_s=10), rand=0.5).delay_s == 300
    # longer than the schedule's longest step: capped there
    assert decide(1, Answer(status, retry_after_s=7 * 24 * 3600), rand=0.5).delay_s == RETRY_SCHEDULE_S[-1]


@pytest.mark.parametrize("status", [500, 503, 400])
def test_retry_after_on_other_statuses_is_ignored(status: int) -> None:
    assert decide(1, Answer(status, retry_after_s=120), rand=0.5).delay_s == 5


def test_scale_shortens_the_schedule_but_not_a_partners_retry_after() -> None:
    assert decide(4, Answer(500), rand=0.5, scale=0.01).delay_s == 72
    assert decide(1, Answer(429, retry_after_s=120), rand=0.5, scale=0.01).delay_s == 120


def test_an_endpoint_is_auto_disabled_after_five_days_of_failure() -> None:
    assert not should_auto_disable(None, NOW)
    assert not should_auto_disable(NOW - AUTO_DISABLE_AFTER_MS + 1, NOW)
    assert should_auto_disable(NOW - AUTO_DISABLE_AFTER_MS, NOW)
    assert AUTO_DISABLE_AFTER_MS == 5 * 24 * 3600 * 1000


def test_new_secrets_are_standard_webhooks_secrets_that_sign() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    assert new_secret() != secret
    Webhook(secret)  # the library accepts it


def _endpoint(secrets: tuple[SigningSecret, ...]) -> WebhookEndpoint:
    return WebhookEndpoint(partner_id="p1", community_id="c1", url="https://partner.example/hook",
                           secrets=secrets, status=EndpointStatus.ACTIVE, created_at_ms=NOW)


def test_after_rotation_the_old_secret_signs_alongside_for_24_hours() -> None:
    first = (SigningSecret("whsec_old"),)
    after = rotated(first, "whsec_new", NOW)
    endpoint = _endpoint(after)
    assert endpoint.signing_secrets(NOW) == ["whsec_new", "whsec_old"]
    assert endpoint.signing_secrets(NOW + SECRET_OVERLAP_MS - 1) == ["whsec_new", "whsec_old"]
    assert endpoint.signing_secrets(NOW + SECRET_OVERLAP_MS) == ["whsec_new"]


def test_rotating_again_keeps_the_previous_overlap_and_drops_expired_secrets() -> None:
    once = rotated((SigningSecret("whsec_a"),), "whsec_b", NOW)
    twice = rotated(once, "whsec_c", NOW + 1000)
    assert [s.secret for s in twice] == ["whsec_c", "whsec_b", "whsec_a"]
    assert _endpoint(twice).signing_secrets(NOW + SECRET_OVERLAP_MS) == ["whsec_c", "whsec_b"]
    later = rotated(twice, "whsec_d", NOW + SECRET_OVERLAP_MS + 500)  # a has expired, b has not
    assert [s.secret for s in later] == ["whsec_d", "whsec_c", "whsec_b"]


def test_the_body_is_type_timestamp_and_data_in_compact_json() -> None:
    body = render_body("order.offered", NOW + 7, {"order_id": "o1", "note": "二楼"})
    assert json.loads(body) == {"type": "order.offered", "timestamp": "2026-01-01T00:00:00.007Z",
                                "data": {"order_id": "o1", "note": "二楼"}}
    assert ", " not in body and "二楼" in body


def test_message_ids_are_stable_per_event() -> None:
    assert message_id_for("order.offered#o1#p1") == message_id_for("order.offered#o1#p1")
    assert message_id_for("order.offered#o1#p1") != message_id_for("order.offered#o1#p2")
    assert message_id_for("x").startswith("msg_")
