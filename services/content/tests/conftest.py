"""Fixtures of the content service tests: a real community service beside the content service."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import nats
import pytest
import pytest_asyncio
from google.protobuf.message import Message
from nats.js import JetStreamContext

from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import content_service_pb2_grpc as api_grpc
from guild.content.v1 import question_pb2 as pb
from guild.events.v1 import community_events_pb2 as community_events
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.publisher import JetStreamPublisher
from guild_common.settings import ServiceSettings
from guild_community import bootstrap as community_bootstrap
from guild_community.config import CommunitySettings
from guild_content import bootstrap as content_bootstrap
from guild_content.config import ContentSettings
from guild_testing.fixtures import Infra, SettingsFactory, auth
from guild_testing.inprocess import RunningService, running_service
from guild_testing.status import error_details, error_domain

# Full outbox sweeps an hour apart: past the sweep at start, an event reaches NATS only through the
# document its write names when it wakes the relay, so a write naming the wrong one fails its test.
FULL_SWEEP_SECONDS = 3600.0


@pytest.fixture
def settings_for(settings_for: SettingsFactory) -> SettingsFactory:
    """The shared settings factory; the content and community relays sweep in full once an hour."""

    def make(settings_class: type[ServiceSettings], **overrides: Any) -> ServiceSettings:
        if issubclass(settings_class, ContentSettings | CommunitySettings):
            overrides.setdefault("outbox_full_sweep_seconds", FULL_SWEEP_SECONDS)
        return settings_for(settings_class, **overrides)

    return make


def error_reason(error: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    """The ErrorInfo reason and the field violations of a failed call (in content's error domain)."""
    assert error_domain(error) == "content.guild"
    return error_details(error)


@dataclass
class Suite:
    community: community_grpc.CommunityServiceStub
    content: api_grpc.ContentServiceStub
    content_service: RunningService
    community_id: str
    infra: Infra

    reason = staticmethod(error_reason)

    async def ask(
        self,
        who: str = "ann",
        title: str = "How do I book leave?",
        body: str = "Where is the form?",
        **kw: object,
    ) -> pb.Question:
        request = api.AskQuestionRequest(
            community_id=self.community_id,
            title=title,
            body=body,
            **kw,  # type: ignore[arg-type]
        )
        response: api.AskQuestionResponse = await self.content.AskQuestion(request, metadata=auth(who))
        return response.question

    async def answer(self, question_id: str, who: str = "bob", body: str = "Use the HR portal.") -> pb.Answer:
        response: api.AnswerQuestionResponse = await self.content.AnswerQuestion(
            api.AnswerQuestionRequest(question_id=question_id, body=body), metadata=auth(who)
        )
        return response.answer

    async def get(self, question_id: str, who: str = "ann") -> api.GetQuestionResponse:
        response: api.GetQuestionResponse = await self.content.GetQuestion(
            api.GetQuestionRequest(question_id=question_id), metadata=auth(who)
        )
        return response

    @staticmethod
    async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 10.0) -> None:
        """Poll ``check`` until it holds, failing after ``timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not await check():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.05)

    async def settle_community_events(self) -> None:
        """Publish a marker membership and wait for it: every community event before it was handled."""
        marker = f"marker-{uuid.uuid4().hex[:8]}"
        await self.publish_community_event(
            "member_joined",
            community_events.MemberJoined(community_id=self.community_id, member_id=marker, role="member"),
            subject=self.community_id,
        )
        db = self.content_service.app.infra.db

        async def seen() -> bool:
            return await db.membership_views.find_one({"_id": f"{self.community_id}:{marker}"}) is not None

        await self.eventually(seen)

    async def publish_community_event(self, name: str, payload: Message, subject: str) -> None:
        """Publish an event as the community service would."""
        nc = await nats.connect(self.infra.nats_url)
        try:
            js: JetStreamContext = nc.jetstream()
            await JetStreamPublisher(js).publish(
                new_envelope(
                    service="community",
                    name=name,
                    payload=payload,
                    subject=subject,
                    region="emea",
                    programme="induction",
                )
            )
        finally:
            await nc.close()

    async def content_events(
        self, count: int, *, timeout: float = 10.0, subject: str = "guild.emea.induction.content.>"
    ) -> list[Envelope]:
        """The content events published so far on ``subject``, waiting until at least ``count`` arrived."""
        nc = await nats.connect(self.infra.nats_url)
        received: list[Envelope] = []
        try:
            sub = await nc.jetstream().pull_subscribe(subject, stream="GUILD_CONTENT")
            deadline = asyncio.get_running_loop().time() + timeout
            while len(received) < count and asyncio.get_running_loop().time() < deadline:
                try:
                    received += [
                        Envelope.from_message(m.subject, m.headers, m.data)
                        for m in await sub.fetch(50, timeout=0.25)
                    ]
                except (nats.errors.TimeoutError, TimeoutError):
                    pass
        finally:
            await nc.close()
        return received


@pytest_asyncio.fixture
async def suite(settings_for: Callable[..., ServiceSettings], infra: Infra) -> AsyncIterator[Suite]:
    async with running_service(settings_for(CommunitySettings), community_bootstrap.build) as community:
        content_settings = settings_for(ContentSettings, community_addr=community.address)
        async with running_service(content_settings, content_bootstrap.build) as content:
            community_stub = community_grpc.CommunityServiceStub(community.channel)
            created = await community_stub.CreateCommunity(
                community_api.CreateCommunityRequest(
                    name="New starters", slug="new-starters", programme="induction", region="emea"
                ),
                metadata=auth("olivia"),
            )
            community_id = created.community.id
            for person in ("ann", "bob"):
                await community_stub.JoinCommunity(
                    community_api.JoinCommunityRequest(community_id=community_id), metadata=auth(person)
                )
            content_stub = api_grpc.ContentServiceStub(content.channel)
            yield Suite(community_stub, content_stub, content, community_id, infra)
