"""Map application errors to ``google.rpc.Status`` with ErrorInfo and BadRequest details."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from guild_common import errors

_CODES: dict[type[errors.GuildError], int] = {
    errors.InvalidArgument: code_pb2.INVALID_ARGUMENT,
    errors.NotFound: code_pb2.NOT_FOUND,
    errors.AlreadyExists: code_pb2.ALREADY_EXISTS,
    errors.PermissionDenied: code_pb2.PERMISSION_DENIED,
    errors.Unauthenticated: code_pb2.UNAUTHENTICATED,
    errors.FailedPrecondition: code_pb2.FAILED_PRECONDITION,
    errors.Aborted: code_pb2.ABORTED,
    errors.Unavailable: code_pb2.UNAVAILABLE,
}


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def build_status(code: int, message: str, reason: str, domain: str, metadata: dict[str, str]) -> grpc.Status:
    status = status_pb2.Status(code=code, message=message)
    status.details.append(_pack(error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=metadata)))
    return rpc_status.to_status(status)


def status_for_error(error: errors.GuildError, domain: str) -> grpc.Status:
    """The gRPC status a caller sees for ``error``; ``domain`` is ``<svc>.guild``."""
    code = next((c for cls, c in _CODES.items() if isinstance(error, cls)), code_pb2.UNKNOWN)
    status = status_pb2.Status(code=code, message=error.message)
    status.details.append(
        _pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=domain, metadata=error.metadata))
    )
    if isinstance(error, errors.InvalidArgument) and error.violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in error.violations
            ]
        )
        status.details.append(_pack(bad_request))
    return rpc_status.to_status(status)
