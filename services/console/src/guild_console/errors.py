"""gRPC failures as HTTP answers: a status and a fixed message, never the input or a trace."""

from __future__ import annotations

import grpc
from starlette.responses import JSONResponse

_HTTP: dict[grpc.StatusCode, tuple[int, str]] = {
    grpc.StatusCode.UNAUTHENTICATED: (401, "sign in with a valid token"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "you may not see this"),
    grpc.StatusCode.NOT_FOUND: (404, "not found"),
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid request"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "invalid request"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "not available for this community"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "too many requests, try again shortly"),
    grpc.StatusCode.UNAVAILABLE: (503, "a service is unavailable, try again shortly"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "a service took too long"),
}
_DEFAULT = (502, "a service failed")


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def grpc_error_response(error: grpc.aio.AioRpcError) -> JSONResponse:
    status, message = _HTTP.get(error.code(), _DEFAULT)
    return error_response(status, message)
