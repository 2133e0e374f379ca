"""Transport encryption end to end: community and content over gRPC mutual TLS, NATS with TLS client
certificates and FerretDB with a TLS listener that verifies clients, all from certificates made here.

The two services run in this process (``guild_testing.inprocess``), each as configured in production:
a certificate of its own, the shared CA, and ``GUILD_GRPC_TLS_CLIENT_AUTH=require``. NATS and FerretDB
accept TLS connections only and require a client certificate.
"""

from __future__ import annotations

import asyncio
import ssl
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import nats
import pytest
import pytest_asyncio
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.content.v1 import content_service_pb2 as content_api
from guild.content.v1 import content_service_pb2_grpc as content_grpc
from guild_common.events.envelope import Envelope
from guild_common.grpc.channels import service_channel
from guild_common.mongo import Document
from guild_common.nats_access import ADMIN
from guild_common.settings import ServiceSettings
from guild_common.tls import grpc_channel_credentials
from guild_community import bootstrap as community_bootstrap
from guild_community.config import CommunitySettings
from guild_content import bootstrap as content_bootstrap
from guild_content.config import ContentSettings
from guild_testing.fixtures import auth
from guild_testing.inprocess import RunningService, running_service
from guild_testing.processes import free_port
from guild_testing.servers import FerretServer, NatsServer, ServerTls

pytestmark = pytest.mark.servers

# Loopback names every certificate here is valid for.
HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class Identity:
    """PEM files of one party: its certificate and key, and both in one file (PyMongo's form)."""

    cert: Path
    key: Path
    combined: Path

    @classmethod
    def issue(cls, ca: trustme.CA, directory: Path, name: str) -> Identity:
        issued = ca.issue_cert(*HOSTS, common_name=name)
        identity = cls(directory / f"{name}.crt", directory / f"{name}.key", directory / f"{name}.pem")
        issued.cert_chain_pems[0].write_to_path(str(identity.cert))
        for blob in issued.cert_chain_pems[1:]:
            blob.write_to_path(str(identity.cert), append=True)
        issued.private_key_pem.write_to_path(str(identity.key))
        issued.private_key_and_cert_chain_pem.write_to_path(str(identity.combined))
        return identity


@dataclass
class Pki:
    directory: Path
    ca_file: Path
    identities: dict[str, Identity]
    rogue: Identity
    """Signed by another CA, with the same names."""

    def __getitem__(self, name: str) -> Identity:
        return self.rogue if name == "rogue" else self.identities[name]

    def grpc_credentials(self, name: str | None) -> grpc.ChannelCredentials:
        """What a caller presents: ``name``'s certificate (``None``: none) and the CA to verify the server."""
        root = self.ca_file.read_bytes()
        if name is None:
            return grpc.ssl_channel_credentials(root_certificates=root)
        identity = self[name]
        return grpc.ssl_channel_credentials(
            root_certificates=root,
            private_key=identity.key.read_bytes(),
            certificate_chain=identity.cert.read_bytes(),
        )

    def nats_context(self, name: str | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if name is not None:
            context.load_cert_chain(str(self[name].cert), str(self[name].key))
        return context


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    with tempfile.TemporaryDirectory(prefix="guild-tls-") as tmp:
        directory = Path(tmp)
        ca = trustme.CA(organization_name="Guild test CA")
        ca_file = directory / "ca.crt"
        ca.cert_pem.write_to_path(str(ca_file))
        names = ("nats", "ferretdb", "community", "content", "tester")
        identities = {name: Identity.issue(ca, directory, name) for name in names}
        rogue = Identity.issue(trustme.CA(organization_name="Another CA"), directory, "rogue")
        yield Pki(directory, ca_file, identities, rogue)


@dataclass
class TlsServers:
    nats: NatsServer
    ferret: FerretServer


@pytest.fixture(scope="module")
def servers(pki: Pki) -> Iterator[TlsServers]:
    work = pki.directory
    nats_server = NatsServer(
        data_dir=work / "nats",
        log_dir=work / "logs",
        auth_dir=work / "nats-auth",
        tls=ServerTls(pki["nats"].cert, pki["nats"].key, pki.ca_file, verify_clients=True),
    )
    ferret = FerretServer(
        data_dir=work / "ferretdb",
        log_dir=work / "logs",
        tls=ServerTls(pki["ferretdb"].cert, pki["ferretdb"].key, pki.ca_file, verify_clients=True),
    )
    ferret.start()
    try:
        nats_server.start()
        try:
            yield TlsServers(nats_server, ferret)
        finally:
            nats_server.stop()
    finally:
        ferret.stop()


def tls_settings(
    pki: Pki, servers: TlsServers, settings_class: type[ServiceSettings], **overrides: Any
) -> ServiceSettings:
    """A service's settings with every transport encrypted and its own certificate, as in production."""
    service = settings_class().service_name
    identity = pki[service]
    user, password = servers.nats.credentials(service)
    fields: dict[str, Any] = {
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "grpc_tls_cert_file": str(identity.cert),
        "grpc_tls_key_file": str(identity.key),
        "grpc_tls_ca_file": str(pki.ca_file),
        "grpc_tls_client_auth": "require",
        "nats_url": servers.nats.url,
        "nats_user": user,
        "nats_password": password,
        "nats_tls_ca_file": str(pki.ca_file),
        "nats_tls_cert_file": str(identity.cert),
        "nats_tls_key_file": str(identity.key),
        "mongo_uri": servers.ferret.uri,
        "mongo_db": f"tls_{service}",
        "mongo_tls_ca_file": str(pki.ca_file),
        "mongo_tls_certificate_key_file": str(identity.combined),
        "outbox_sweep_seconds": 0.5,
        # past a consumer's one-second fetch, so stopping never cancels a pull request in flight
        "shutdown_grace_seconds": 2.0,
        **overrides,
    }
    return settings_class.model_validate(fields)


@dataclass
class TlsSuite:
    community: RunningService
    content: RunningService
    content_settings: ServiceSettings


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def tls_suite(pki: Pki, servers: TlsServers) -> AsyncIterator[TlsSuite]:
    caller = pki.grpc_credentials("tester")
    community_settings = tls_settings(pki, servers, CommunitySettings, grpc_health_port=free_port())
    async with running_service(
        community_settings, community_bootstrap.build, credentials=caller
    ) as community:
        content_settings = tls_settings(pki, servers, ContentSettings, community_addr=community.address)
        async with running_service(content_settings, content_bootstrap.build, credentials=caller) as content:
            yield TlsSuite(community, content, content_settings)


async def _eventually_true(check: Any, *, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_rpcs_store_and_events_all_run_over_tls(
    tls_suite: TlsSuite, servers: TlsServers, pki: Pki
) -> None:
    assert tls_suite.community.app.server.tls
    assert tls_suite.content.app.server.tls
    community = community_grpc.CommunityServiceStub(tls_suite.community.channel)
    created = await community.CreateCommunity(
        community_api.CreateCommunityRequest(
            name="Secure starters", slug="secure-starters", programme="induction", region="emea"
        ),
        metadata=auth("olivia"),
    )
    community_id = created.community.id
    await community.JoinCommunity(
        community_api.JoinCommunityRequest(community_id=community_id), metadata=auth("ann")
    )

    # Community's events reach content's read model over TLS NATS, and content stores it over TLS.
    content_db = tls_suite.content.app.infra.db

    async def ann_is_known() -> bool:
        return await content_db.membership_views.find_one({"_id": f"{community_id}:ann"}) is not None

    await _eventually_true(ann_is_known)

    content = content_grpc.ContentServiceStub(tls_suite.content.channel)
    asked = await content.AskQuestion(
        content_api.AskQuestionRequest(community_id=community_id, title="Where is the VPN guide?", body="?"),
        metadata=auth("ann"),
    )
    assert await content_db.questions.find_one({"_id": asked.question.id}) is not None

    # The question's event, read back from JetStream by an admin over TLS with a client certificate.
    user, password = servers.nats.credentials(ADMIN)
    nc = await nats.connect(servers.nats.url, user=user, password=password, tls=pki.nats_context("tester"))
    try:
        sub = await nc.jetstream().pull_subscribe("guild.emea.induction.content.>", stream="GUILD_CONTENT")
        envelopes: list[Envelope] = []

        async def question_published() -> bool:
            try:
                messages = await sub.fetch(10, timeout=0.25)
            except (nats.errors.TimeoutError, TimeoutError):
                return False
            envelopes.extend(Envelope.from_message(m.subject, m.headers, m.data) for m in messages)
            return any(e.subject == asked.question.id for e in envelopes)

        await _eventually_true(question_published)
    finally:
        await nc.close()

    # Content calls community as it does for its read-through: mutual TLS with its own certificate.
    channel = service_channel(
        tls_suite.community.address,
        service_token="",
        credentials=grpc_channel_credentials(tls_suite.content_settings),
    )
    try:
        got = await community_grpc.CommunityServiceStub(channel).GetCommunity(
            community_api.GetCommunityRequest(community_id=community_id), metadata=auth("ann"), timeout=5
        )
        assert got.community.slug == "secure-starters"
    finally:
        await channel.close()


async def test_health_and_reflection_answer_over_tls_without_a_token(tls_suite: TlsSuite) -> None:
    channel = tls_suite.community.channel
    health = health_pb2_grpc.HealthStub(channel)

    async def serving() -> bool:
        # SERVING once its database (FerretDB over TLS) answers
        reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    await _eventually_true(serving)
    call = channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    responses = [r async for r in call(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))]
    listed = {s.name for s in responses[0].list_services_response.service}
    assert "guild.community.v1.CommunityService" in listed


async def test_the_plaintext_probe_port_answers_health_alone(tls_suite: TlsSuite) -> None:
    probe = f"127.0.0.1:{tls_suite.community.app.server.health_port}"
    async with grpc.aio.insecure_channel(probe) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(service="liveness"), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await community_grpc.CommunityServiceStub(channel).GetCommunity(
                community_api.GetCommunityRequest(community_id="c1"), metadata=auth("ann"), timeout=5
            )
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize("presented", [None, "rogue"], ids=["no-certificate", "another-ca"])
async def test_mutual_tls_refuses_a_client_without_a_valid_certificate(
    tls_suite: TlsSuite, pki: Pki, presented: str | None
) -> None:
    async with grpc.aio.secure_channel(
        tls_suite.community.address, pki.grpc_credentials(presented)
    ) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("presented", [None, "rogue"], ids=["no-certificate", "another-ca"])
async def test_nats_and_ferretdb_refuse_a_client_without_a_valid_certificate(
    servers: TlsServers, pki: Pki, presented: str | None
) -> None:
    user, password = servers.nats.credentials(ADMIN)
    # the server ends the handshake: the connection is reset (or reported lost)
    with pytest.raises((OSError, nats.errors.Error)):
        await nats.connect(
            servers.nats.url,
            user=user,
            password=password,
            tls=pki.nats_context(presented),
            allow_reconnect=False,
            connect_timeout=2,
            max_reconnect_attempts=0,
        )
    certificate: dict[str, Any] = {}
    if presented is not None:
        certificate["tlsCertificateKeyFile"] = str(pki[presented].combined)
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        servers.ferret.uri, tlsCAFile=str(pki.ca_file), serverSelectionTimeoutMS=1500, **certificate
    )
    try:
        with pytest.raises(PyMongoError):
            await client.admin.command("ping")
    finally:
        await client.close()
    trusted: AsyncMongoClient[Document] = AsyncMongoClient(
        servers.ferret.uri,
        tlsCAFile=str(pki.ca_file),
        tlsCertificateKeyFile=str(pki["tester"].combined),
        serverSelectionTimeoutMS=5000,
    )
    try:
        assert (await trusted.admin.command("ping"))["ok"] == 1
    finally:
        await trusted.close()


async def test_a_plaintext_client_fails_against_tls_servers(tls_suite: TlsSuite, servers: TlsServers) -> None:
    async with grpc.aio.insecure_channel(tls_suite.community.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    plaintext: AsyncMongoClient[Document] = AsyncMongoClient(
        servers.ferret.uri.replace("?tls=true", ""), serverSelectionTimeoutMS=1500
    )
    try:
        with pytest.raises(PyMongoError):
            await plaintext.admin.command("ping")
    finally:
        await plaintext.close()
    # NATS clients upgrade to TLS on their own when the server asks, so speak the protocol by hand: the
    # server announces that it requires TLS and drops a client that carries on in plaintext.
    reader, writer = await asyncio.open_connection("127.0.0.1", servers.nats.port)
    try:
        info = await asyncio.wait_for(reader.readline(), timeout=5)
        assert b'"tls_required":true' in info
        writer.write(b'CONNECT {"verbose":false}\r\nPING\r\n')
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=5)
        assert b"PONG" not in answer
    finally:
        writer.close()
