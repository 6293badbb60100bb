"""Domain errors: named in the community's language, mapped to HTTP or batch failures at the edge."""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """A rule said no. ``kind`` tells the edge how to answer; ``code`` is the stable machine word."""

    kind: ClassVar[str] = "rule"
    code: ClassVar[str] = "rule_violation"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]


class BadInput(DomainError):
    kind = "bad_input"
    code = "bad_request"


class Unauthorized(DomainError):
    kind = "unauthorized"
    code = "unauthorized"


class Forbidden(DomainError):
    kind = "forbidden"
    code = "forbidden"


class NotFound(DomainError):
    kind = "not_found"
    code = "not_found"


class Conflict(DomainError):
    kind = "conflict"
    code = "conflict"


class CommunityUnknown(NotFound):
    code = "community_not_found"


class DeviceUnknown(NotFound):
    code = "device_not_found"


class DeviceAlreadyRegistered(Conflict):
    code = "device_already_registered"


class PhoneTaken(Conflict):
    code = "phone_taken"


class WeChatCodeInvalid(BadInput):
    code = "invalid_code"


class UpstreamUnavailable(DomainError):
    """An outside system (WeChat, Stripe) failed; the caller may retry."""

    kind = "upstream"
    code = "upstream_unavailable"


class PayoutAmbiguous(UpstreamUnavailable):
    """WeChat Pay's answer was lost (timeout, reset, 5xx, 429): the bill may or may not exist."""

    code = "payout_pending"


class PayoutRefused(DomainError):
    """WeChat Pay definitely refused to create the bill (a 4xx with a reason); nothing was created."""

    kind = "upstream"
    code = "payout_refused"


class CallbackRejected(DomainError):
    """A payment callback that is forged, tampered, stale or malformed; it changes nothing."""

    kind = "unauthorized"
    code = "invalid_callback"


class InsufficientBalance(DomainError):
    kind = "rule"
    code = "insufficient_balance"


class PaymentRefused(DomainError):
    """A payment provider definitely refused a request (a 4xx with a reason); nothing was created."""

    kind = "upstream"
    code = "payment_refused"


class IllegalTransition(Conflict):
    """The order is not in a state that allows this; ``current`` says which state it is in."""

    code = "illegal_transition"

    def __init__(self, message: str, current: str) -> None:
        super().__init__(message)
        self.current = current
