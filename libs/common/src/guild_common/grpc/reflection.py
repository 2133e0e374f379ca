"""Server reflection, v1 and v1alpha, serving the protos' descriptors with their comments.

grpcio-reflection serves ``grpc.reflection.v1alpha`` from the descriptors compiled into the generated
modules, which carry no source info, so ``grpcurl describe`` would show no documentation. This servicer
answers with the descriptors of ``guild/descriptors.binpb`` (written by ``make proto`` with
``--include_source_info``) wherever it has them, and also serves the same protocol as
``grpc.reflection.v1``: the two versions' messages are identical on the wire.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any, TypeAlias

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha._async import ReflectionServicer

V1ALPHA = "grpc.reflection.v1alpha.ServerReflection"
V1 = "grpc.reflection.v1.ServerReflection"
SERVICE_NAMES = (V1, V1ALPHA)
DESCRIPTOR_SET = "descriptors.binpb"

Response: TypeAlias = reflection_pb2.ServerReflectionResponse


def source_descriptors(package: str = "guild") -> dict[str, bytes]:
    """Serialized ``FileDescriptorProto`` with source info, by file name; empty if the set is missing."""
    try:
        data = resources.files(package).joinpath(DESCRIPTOR_SET).read_bytes()
    except (FileNotFoundError, ModuleNotFoundError):
        return {}
    files = descriptor_pb2.FileDescriptorSet.FromString(data).file
    return {file.name: file.SerializeToString() for file in files}


def _add_v1_descriptor() -> None:
    """Describe ``grpc.reflection.v1`` in the default pool (a copy of v1alpha under the v1 package), so
    reflection can describe itself in both versions."""
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName("grpc/reflection/v1/reflection.proto")
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old, new = ".grpc.reflection.v1alpha.", ".grpc.reflection.v1."
    proto.name = "grpc/reflection/v1/reflection.proto"
    proto.package = "grpc.reflection.v1"
    proto.options.Clear()
    for message in proto.message_type:
        for field in message.field:
            if field.HasField("type_name"):
                field.type_name = field.type_name.replace(old, new)
    for service in proto.service:
        for method in service.method:
            method.input_type = method.input_type.replace(old, new)
            method.output_type = method.output_type.replace(old, new)
    pool.Add(proto)


class SourceReflectionServicer(ReflectionServicer):  # type: ignore[misc]
    """grpcio-reflection's servicer, answering with the source-info descriptors where it has them."""

    def __init__(self, service_names: Iterable[str], files: Mapping[str, bytes]) -> None:
        super().__init__(service_names)
        self._files = files

    def _with_source(self, response: Response) -> Response:
        if response.HasField("file_descriptor_response"):
            protos = response.file_descriptor_response.file_descriptor_proto
            for index, raw in enumerate(protos):
                name = descriptor_pb2.FileDescriptorProto.FromString(raw).name
                if name in self._files:
                    protos[index] = self._files[name]
        return response

    def _file_by_filename(self, request: Any, filename: str) -> Response:
        return self._with_source(super()._file_by_filename(request, filename))

    def _file_containing_symbol(self, request: Any, symbol: str) -> Response:
        return self._with_source(super()._file_containing_symbol(request, symbol))

    def _file_containing_extension(self, request: Any, containing_type: str, number: int) -> Response:
        return self._with_source(super()._file_containing_extension(request, containing_type, number))


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Serve reflection v1 and v1alpha for ``service_names`` (and reflection itself)."""
    _add_v1_descriptor()
    servicer = SourceReflectionServicer([*service_names, *SERVICE_NAMES], source_descriptors())
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": handler})
            for name in SERVICE_NAMES
        ]
    )
