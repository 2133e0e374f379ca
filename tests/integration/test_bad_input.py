"""Every RPC of every service, found by server reflection, called with generated bad input.

For each method the request type is read over reflection, then one field at a time (down to
nested messages) is set to something hostile: a 7 KB string, NUL, zero-width and bidi characters,
forged page tokens, week names out of range, timestamps beyond the years 1-9999 or at their very
ends, unknown enum numbers, negative and huge numbers, NaN, long lists. No call may end in INTERNAL
or UNKNOWN (an unhandled error in the service), nor with a status message longer than a bound
(errors echo at most a short prefix of input). Calls run as a member and as a service.
"""

from __future__ import annotations

import asyncio
import base64
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from tests.integration.harness import SuiteProcesses

from guild.community.v1 import community_pb2
from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild_testing.fixtures import auth, token_for

#: Longest status message a caller may get back.
MESSAGE_BOUND = 300
#: Calls in flight at once, across the services.
CONCURRENCY = 16
#: How deep into nested request messages fields are varied.
DEPTH = 2

HUGE = "x" * 7000
FORGED_POSITION = base64.urlsafe_b64encode(b'{"v":{"$ne":null},"id":{"$gt":""}}').decode().rstrip("=")
STRINGS = [HUGE, "\x00", "a\u200bb", "\u202eevil", "a\x07b", " ", "\U0001f600" * 3000]
TOKENS = ["garbage!", "!!", FORGED_POSITION, f"{FORGED_POSITION}.AAAAAAAAAAAAAAAAAAAAAA", "a.b.c", "."]
WEEKS = ["9999-W53", "0000-W01", "2026-W99", "2026-W00", "-1-W01", "2026-W1", "99999999-W01"]
TIMESTAMPS = [
    (2**62, 0),
    (-(2**62), 0),
    (0, -1),
    (0, 2**31 - 1),
    (253_402_300_799, 999_999_999),
    (-62_135_596_800, 0),
]
INT32 = [-1, -(2**31), 2**31 - 1]
INT64 = [-1, -(2**63), 2**63 - 1]
UINT32 = [2**32 - 1]
UINT64 = [2**64 - 1]
DOUBLES = [-1.0, math.nan, math.inf, -math.inf, 1e308]
ENUMS = [999, -5]

_INT32_TYPES = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32}
_INT64_TYPES = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64}
_UINT32_TYPES = {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32}
_UINT64_TYPES = {FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64}
_FLOAT_TYPES = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT}


@dataclass(frozen=True)
class Case:
    service: str
    method: MethodDescriptor
    label: str
    request: Message
    metadata: tuple[tuple[str, str], ...]


def _scalar_values(field: FieldDescriptor) -> list[Any]:
    name = field.name
    if field.enum_type is not None:
        return ENUMS
    if field.type == FieldDescriptor.TYPE_STRING:
        values = list(STRINGS)
        if name.endswith("token"):
            values += TOKENS
        if "week" in name or "period" in name:
            values += WEEKS
        return values
    if field.type == FieldDescriptor.TYPE_BYTES:
        return [b"\x00" * 7000]
    if field.type == FieldDescriptor.TYPE_BOOL:
        return [True]
    if field.type in _INT32_TYPES:
        return INT32
    if field.type in _INT64_TYPES:
        return INT64
    if field.type in _UINT32_TYPES:
        return UINT32
    if field.type in _UINT64_TYPES:
        return UINT64
    if field.type in _FLOAT_TYPES:
        return DOUBLES
    return []


def _variants(descriptor: Descriptor, depth: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, field assignments) pairs: each sets one field (possibly nested) to a bad value.

    Assignments are a path of field names and a setter taking the parent message."""
    for field in descriptor.fields:
        message_type = field.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            continue
        if message_type is not None and message_type.full_name == "google.protobuf.Timestamp":
            for seconds, nanos in TIMESTAMPS:
                yield f"{field.name}=ts({seconds},{nanos})", {"path": [field.name], "ts": (seconds, nanos)}
            continue
        if message_type is not None:
            if message_type.full_name.startswith("google.protobuf.") or depth <= 1:
                continue
            for label, inner in _variants(message_type, depth - 1):
                yield f"{field.name}.{label}", {**inner, "path": [field.name, *inner["path"]]}
            continue
        for value in _scalar_values(field):
            shown = repr(value)[:24]
            if field.is_repeated:
                yield f"{field.name}=[{shown}]*3", {"path": [field.name], "list": [value] * 3}
            else:
                yield f"{field.name}={shown}", {"path": [field.name], "value": value}
        if field.is_repeated and field.type == FieldDescriptor.TYPE_STRING:
            yield f"{field.name}=1001 ids", {"path": [field.name], "list": [f"m{i}" for i in range(1001)]}


def _build(cls: type[Message], base: dict[str, str], variant: dict[str, Any]) -> Message:
    request = cls()
    for name, value in base.items():
        if name in request.DESCRIPTOR.fields_by_name and variant["path"][0] != name:
            field = request.DESCRIPTOR.fields_by_name[name]
            if field.type == FieldDescriptor.TYPE_STRING and not field.is_repeated:
                setattr(request, name, value)
    target: Any = request
    *parents, leaf = variant["path"]
    for name in parents:
        field = target.DESCRIPTOR.fields_by_name[name]
        target = getattr(target, name).add() if field.is_repeated else getattr(target, name)
    if "ts" in variant:
        field = target.DESCRIPTOR.fields_by_name[leaf]
        stamp = getattr(target, leaf).add() if field.is_repeated else getattr(target, leaf)
        stamp.seconds, stamp.nanos = variant["ts"]
    elif "list" in variant:
        getattr(target, leaf).extend(variant["list"])
    else:
        setattr(target, leaf, variant["value"])
    return request


def _discover(address: str) -> list[tuple[MethodDescriptor, type[Message]]]:
    """The Guild RPCs a server lists over reflection, with their request classes."""
    with grpc.insecure_channel(address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        pool = descriptor_pool.DescriptorPool(database)
        methods: list[tuple[MethodDescriptor, type[Message]]] = []
        for name in database.get_services():
            if not name.startswith("guild."):
                continue
            for method in pool.FindServiceByName(name).methods:
                methods.append((method, message_factory.GetMessageClass(method.input_type)))
    return methods


async def _call(channel: grpc.aio.Channel, case: Case) -> grpc.aio.AioRpcError | None:
    path = f"/{case.method.containing_service.full_name}/{case.method.name}"
    serialize = type(case.request).SerializeToString
    if case.method.server_streaming:
        stream = channel.unary_stream(path, request_serializer=serialize, response_deserializer=bytes)
        call = stream(case.request, metadata=case.metadata, timeout=1.0)
        try:
            await asyncio.wait_for(call.read(), timeout=1.0)
        except TimeoutError:
            pass
        except grpc.aio.AioRpcError as error:
            return error
        finally:
            call.cancel()
        return None
    unary = channel.unary_unary(path, request_serializer=serialize, response_deserializer=bytes)
    try:
        await unary(case.request, metadata=case.metadata, timeout=10.0)
    except grpc.aio.AioRpcError as error:
        return error
    return None


@pytest.mark.timeout(180)
async def test_no_bad_input_gives_internal_or_unknown_or_a_long_message(suite: SuiteProcesses) -> None:
    communities = community_grpc.CommunityServiceStub(suite.channel("community"))
    created = await communities.CreateCommunity(
        community_api.CreateCommunityRequest(
            name="Bad input",
            slug="bad-input",
            programme="sales",
            region="emea",
            visibility=community_pb2.VISIBILITY_OPEN,
        ),
        metadata=auth("alice"),
    )
    base = {"community_id": created.community.id, "member_id": "alice"}
    callers = {
        "member": (("authorization", f"Bearer {token_for('alice')}"),),
        "service": (("authorization", f"Bearer {token_for('svc-bad-input', scopes=('service',))}"),),
    }
    cases: list[Case] = []
    for service in suite.services:
        for method, cls in await asyncio.to_thread(_discover, suite.address(service)):
            variants = [("base", {"path": ["__none__"], "none": True}), *_variants(method.input_type, DEPTH)]
            for label, variant in variants:
                request = cls() if "none" in variant else _build(cls, base, variant)
                if "none" in variant:
                    for name, value in base.items():
                        if name in request.DESCRIPTOR.fields_by_name:
                            setattr(request, name, value)
                for caller, metadata in callers.items():
                    cases.append(Case(service, method, f"{caller}: {label}", request, metadata))
    assert len({c.method.full_name for c in cases}) >= 100, "reflection found too few RPCs"

    semaphore = asyncio.Semaphore(CONCURRENCY)
    failures: list[str] = []

    async def run(case: Case) -> None:
        async with semaphore:
            error = await _call(suite.channel(case.service), case)
        if error is None:
            return
        details = error.details() or ""
        if (
            error.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
            or len(details) > MESSAGE_BOUND
        ):
            failures.append(f"{case.method.full_name} [{case.label}]: {error.code().name} {details[:160]!r}")

    await asyncio.gather(*(run(case) for case in cases))
    assert not failures, f"{len(failures)} of {len(cases)} calls failed:\n" + "\n".join(sorted(failures))
