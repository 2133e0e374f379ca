"""Map application errors to ``google.rpc.Status`` with ErrorInfo and BadRequest details.

Whatever an error says, the status stays small: the message, each field violation and each
``ErrorInfo`` metadata value are cut to a bound (with an ellipsis), and at most
``MAX_VIOLATIONS`` violations are listed. Errors may quote a caller's input; a 7 KB id repeated into
the message and its details would otherwise overflow the trailers (RESOURCE_EXHAUSTED or INTERNAL).
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from guild_common import errors
from guild_common.errors import ECHO_LIMIT, shorten

#: Longest status message sent; a message quoting input keeps the first part of it.
MAX_MESSAGE = 256
#: Longest field path and violation description sent.
MAX_FIELD = 128
MAX_DESCRIPTION = 192
MAX_VIOLATIONS = 20

_CODES: dict[type[errors.GuildError], int] = {
    errors.InvalidArgument: code_pb2.INVALID_ARGUMENT,
    errors.NotFound: code_pb2.NOT_FOUND,
    errors.AlreadyExists: code_pb2.ALREADY_EXISTS,
    errors.PermissionDenied: code_pb2.PERMISSION_DENIED,
    errors.Unauthenticated: code_pb2.UNAUTHENTICATED,
    errors.FailedPrecondition: code_pb2.FAILED_PRECONDITION,
    errors.Aborted: code_pb2.ABORTED,
    errors.Unavailable: code_pb2.UNAVAILABLE,
    errors.ResourceExhausted: code_pb2.RESOURCE_EXHAUSTED,
}


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def _error_info(reason: str, domain: str, metadata: dict[str, str]) -> error_details_pb2.ErrorInfo:
    bounded = {shorten(key, ECHO_LIMIT): shorten(value, ECHO_LIMIT) for key, value in metadata.items()}
    return error_details_pb2.ErrorInfo(reason=shorten(reason, ECHO_LIMIT), domain=domain, metadata=bounded)


def build_status(code: int, message: str, reason: str, domain: str, metadata: dict[str, str]) -> grpc.Status:
    status = status_pb2.Status(code=code, message=shorten(message, MAX_MESSAGE))
    status.details.append(_pack(_error_info(reason, domain, metadata)))
    return rpc_status.to_status(status)


def status_for_error(error: errors.GuildError, domain: str) -> grpc.Status:
    """The gRPC status a caller sees for ``error``; ``domain`` is ``<svc>.guild``."""
    code = next((c for cls, c in _CODES.items() if isinstance(error, cls)), code_pb2.UNKNOWN)
    status = status_pb2.Status(code=code, message=shorten(error.message, MAX_MESSAGE))
    status.details.append(_pack(_error_info(error.reason, domain, error.metadata)))
    if isinstance(error, errors.InvalidArgument) and error.violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=shorten(v.field, MAX_FIELD), description=shorten(v.description, MAX_DESCRIPTION)
                )
                for v in error.violations[:MAX_VIOLATIONS]
            ]
        )
        status.details.append(_pack(bad_request))
    if isinstance(error, errors.ResourceExhausted) and error.retry_after_seconds is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(max(0, round(error.retry_after_seconds * 1e9)))
        status.details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return rpc_status.to_status(status)
