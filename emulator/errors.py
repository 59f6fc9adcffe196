"""RingCentral error bodies, raised as `RCError` and rendered by one exception handler.

Three documented shapes: the OAuth shape of the token endpoints (`error`, `errors[]`,
`error_description`), the REST shape with a top-level code echoed beside `errors[]`, and the 401
`TokenInvalid` shape for bad bearer tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RCError(Exception):
    """An HTTP error answer with RingCentral's body."""

    def __init__(
        self,
        status: int,
        body: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = dict(body) if body is not None else None
        self.headers = dict(headers or {})


def api_error(
    status: int,
    code: str,
    message: str,
    *,
    parameter_name: str | None = None,
    parameter_value: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> RCError:
    """REST error: `{"errorCode", "message", "errors": [{"errorCode", "message", ...}]}`."""
    item: dict[str, Any] = {"errorCode": code, "message": message}
    if parameter_name is not None:
        item["parameterName"] = parameter_name
    if parameter_value is not None:
        item["parameterValue"] = parameter_value
    body: dict[str, Any] = {"errorCode": code, "message": message, "errors": [item]}
    if parameter_name is not None:
        body["parameterName"] = parameter_name
    return RCError(status, body, headers)


def invalid_parameter(name: str, value: object = None) -> RCError:
    """400 CMN-101, the generic "Parameter [x] value is invalid"."""
    shown = None if value is None else str(value)
    return api_error(
        400,
        "CMN-101",
        f"Parameter [{name}] value is invalid",
        parameter_name=name,
        parameter_value=shown,
    )


def not_found(parameter: str) -> RCError:
    return api_error(
        404,
        "CMN-102",
        f"Resource for parameter [{parameter}] is not found",
        parameter_name=parameter,
    )


def oauth_error(
    error: str,
    code: str,
    message: str,
    *,
    status: int = 400,
    parameter_name: str | None = None,
) -> RCError:
    """Token-endpoint error: `{"error", "errors": [...], "error_description"}`."""
    item: dict[str, Any] = {"errorCode": code, "message": message}
    if parameter_name is not None:
        item["parameters"] = [{"parameterName": parameter_name}]
    return RCError(status, {"error": error, "errors": [item], "error_description": message})


def token_invalid(code: str, message: str) -> RCError:
    """401 for a bad bearer token on a REST call."""
    return RCError(
        401,
        {
            "errorCode": "TokenInvalid",
            "message": message,
            "errors": [{"errorCode": code, "message": message}],
        },
    )


def permission_denied(permission: str) -> RCError:
    """403 when the app lacks a permission (shape from DOC:voice/call-log/access)."""
    message = (
        f"In order to call this API endpoint, application needs to have [{permission}] permission"
    )
    item = {"errorCode": "CMN-401", "message": message, "permissionName": permission}
    body = {
        "errorCode": "InsufficientPermissions",
        "message": message,
        "errors": [item],
        "permissionName": permission,
    }
    return RCError(403, body)
