"""What third-party tools expect of every service process: health ``Check`` and ``Watch`` (Kubernetes,
Envoy), server reflection v1 and v1alpha with the protos' comments (grpcurl), CloudEvents that the official
SDK parses, and JSON log lines only."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tests.integration.harness import SuiteProcesses

SERVING = health_pb2.HealthCheckResponse.SERVING


async def test_health_watch_streams_serving_on_every_service(suite: SuiteProcesses) -> None:
    assert len(suite.services) == 4
    for svc in suite.services:
        stub = health_pb2_grpc.HealthStub(suite.channel(svc))
        for name in ("", "liveness"):
            checked = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert checked.status == SERVING, (svc, name)
            watch = stub.Watch(health_pb2.HealthCheckRequest(service=name), timeout=10)
            try:
                first = await asyncio.wait_for(watch.read(), timeout=5)
            except grpc.aio.AioRpcError as error:
                failure = f"{error.code()} {error.details()}"
                raise AssertionError(f"{svc}: Watch({name!r}) failed: {failure}") from None
            finally:
                watch.cancel()
            assert first is not grpc.aio.EOF, (svc, name)
            assert first.status == SERVING, (svc, name, first)
