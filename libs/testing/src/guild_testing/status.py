"""Reading the ``google.rpc.Status`` details of a failed call."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

M = TypeVar("M", bound=Message)


def details_of(error: grpc.aio.AioRpcError, kind: type[M]) -> list[M]:
    """The status details of a failed call that are of message type ``kind``."""
    status = rpc_status.from_call(error)
    assert status is not None
    found: list[M] = []
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):
            message = kind()
            detail.Unpack(message)
            found.append(message)
    return found


def _error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    return (details_of(error, error_details_pb2.ErrorInfo) or [error_details_pb2.ErrorInfo()])[0]


def error_domain(error: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo domain of a failed call."""
    domain: str = _error_info(error).domain
    return domain


def field_violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """The BadRequest field violations of a failed call, by field."""
    return {
        v.field: v.description
        for bad in details_of(error, error_details_pb2.BadRequest)
        for v in bad.field_violations
    }


def error_details(error: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    """The ErrorInfo reason and the field violations of a failed call."""
    return _error_info(error).reason, field_violations(error)


async def expect_request_id_reused(call: Awaitable[object]) -> None:
    """``call`` fails with INVALID_ARGUMENT, reason ``REQUEST_ID_REUSED``, a violation on ``request_id``."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    reason, violations = error_details(caught.value)
    assert reason == "REQUEST_ID_REUSED"
    assert set(violations) == {"request_id"}
