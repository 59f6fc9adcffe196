"""Errors of the RingCentral side, carrying RingCentral's own error codes.

RingCentralError
├── TransportError        the request did not get an answer (after safe retries), or an answer
│                         we cannot read
├── UntrustedPageUri      a paging link that leaves RingCentral's call log; never followed
├── CredentialInvalid     the extension's JWT credential was refused; it needs a new one
└── ApiError              RingCentral answered with an error status
    ├── InvalidGrant      400 invalid_grant (OAU-210 expired, OAU-211 revoked, OAU-213 ...)
    ├── Unauthorized      401 on an API call (OAU-128/129/213: token expired or invalid)
    ├── NotFound          404 (an expired subscription, SUB-507 / CMN-102)
    └── RateLimited       429 (CMN-301), with the Retry-After it asked for
"""

from __future__ import annotations

from subscriptions.schemas import ErrorBody


class RingCentralError(Exception):
    """Anything that went wrong talking to RingCentral."""


class TransportError(RingCentralError):
    """No answer (connection refused, timed out, reset), or an answer that is not what the
    endpoint returns (a body we cannot read)."""


class UntrustedPageUri(RingCentralError):
    """A `navigation` link that points outside our RingCentral server's call log. It is not
    followed: the request would carry the extension's bearer token."""


class CredentialInvalid(RingCentralError):
    """RingCentral refused the JWT credential itself; retrying will not help."""

    def __init__(self, extension_id: str, reason: str) -> None:
        super().__init__(f"JWT credential of extension {extension_id} was refused: {reason}")
        self.extension_id = extension_id
        self.reason = reason


class ApiError(RingCentralError):
    def __init__(self, status: int, body: ErrorBody, *, retry_after_s: float | None = None) -> None:
        self.status = status
        self.body = body
        self.code = body.code
        self.oauth_error = body.error
        self.retry_after_s = retry_after_s
        detail = f"{self.code}: {body.text}" if self.code else body.text
        super().__init__(f"RingCentral answered {status}: {detail or 'no details'}")


class InvalidGrant(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class NotFound(ApiError):
    pass


class RateLimited(ApiError):
    pass


def api_error(status: int, body: ErrorBody, retry_after_s: float | None) -> ApiError:
    """The most specific error class for a RingCentral error answer."""
    if status == 429:
        return RateLimited(status, body, retry_after_s=retry_after_s)
    if status == 404:
        return NotFound(status, body)
    if status == 401:
        return Unauthorized(status, body)
    if body.error == "invalid_grant":
        return InvalidGrant(status, body)
    return ApiError(status, body, retry_after_s=retry_after_s)
