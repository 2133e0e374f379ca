"""The reputation service layer composed on in-memory ports, as ``bootstrap.build`` composes it on
MongoDB: the ledger's handlers, the community read models' handlers, the boards they feed and the
queries and commands that read them.

Handler tests build the typed events of ``domain.integration_events`` with :func:`meta` and pass them
to :meth:`World.handle`, which runs every handler of the event's class in the consumer's order."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import grpc
from services.reputation.tests import memory

from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.auth import Principal
from guild_common.events.envelope import Envelope
from guild_common.events.inbound import Handler, bind, combine
from guild_common.events.meta import EventMeta
from guild_reputation.app.access import CommunityReaders
from guild_reputation.app.badges import BadgeRules, BadgeUseCases
from guild_reputation.app.badges_handlers import CuratorRules
from guild_reputation.app.boards import LiveBoards
from guild_reputation.app.boards_handlers import PointsFollower
from guild_reputation.app.cpd import CpdUseCases, CreditCounter
from guild_reputation.app.cpd_handlers import CpdCredits
from guild_reputation.app.custom_badges import BadgeDefinitionUseCases
from guild_reputation.app.custom_badges_handlers import CustomBadgeRules
from guild_reputation.app.insights import InsightsQueries
from guild_reputation.app.insights_handlers import InsightsHandlers
from guild_reputation.app.leaderboards import LeaderboardQueries, TagQueries
from guild_reputation.app.ledger_handlers import ContentEventHandlers
from guild_reputation.app.membership_handlers import CommunityEventHandlers
from guild_reputation.app.pilot import PilotComparisons
from guild_reputation.app.pilot_handlers import PilotHandlers
from guild_reputation.app.points_rules import PointsRulesUseCases
from guild_reputation.app.recognition import RecognitionUseCases
from guild_reputation.app.recognition_handlers import RecognitionHandlers
from guild_reputation.app.visibility import Visibility
from guild_reputation.bootstrap import SERVICE_NAME
from guild_reputation.config import ReputationSettings
from guild_reputation.domain import integration_events as ev
from guild_reputation.domain.cpd import Evidence
from guild_reputation.domain.credential_signing import SigningKey
from guild_reputation.domain.credentials import Issuer
from guild_reputation.domain.insights import Weeks
from guild_reputation.domain.leaderboard import Leaderboards
from guild_reputation.domain.periods import Calendar
from guild_reputation.domain.rules import PointsTable
from guild_reputation.entrypoints.event_decoders import DECODERS
from guild_reputation.entrypoints.grpc.reputation_service import ReputationServicer
from guild_testing.memory import serving_in_memory

C1 = "c-1"
C2 = "c-2"
_ids = itertools.count(1)


def meta(event_id: str = "", *, time: datetime | None = None, type: str = "") -> EventMeta:
    """The attributes of a received event: a fresh id unless given, written at ``time`` (else T0)."""
    return EventMeta(
        id=event_id or f"ev-{next(_ids)}",
        type=type,
        source="/guild/test",
        subject="s",
        time=time or memory.T0,
        region="emea",
        programme="sales",
    )


def who(subject: str, *scopes: str) -> Principal:
    return Principal(subject=subject, scopes=frozenset(scopes))


EVIDENCE_BASE = "https://guild.example.com"
ISSUER = Issuer("https://skills.example.com", "Example Corp")
SERVICE = Principal(subject="content", scopes=frozenset({"service"}))


@dataclass
class World:
    """Every store in memory, the use cases and handlers on them, a clock tests move by hand."""

    points: PointsTable = field(default_factory=lambda: PointsTable(daily_caps={"upvote_received": 200}))
    clock: memory.ManualClock = field(default_factory=memory.ManualClock)
    tags_wait: timedelta = timedelta(seconds=2)
    signing_key: SigningKey | None = None
    cpd_export_max: int = 5_000

    def __post_init__(self) -> None:
        calendar = Calendar()
        self.ledger = memory.MemoryLedger(calendar, clock=self.clock)
        self.live = LiveBoards(Leaderboards(), calendar, clock=self.clock)
        self.rules = memory.MemoryPointsRules()
        self.post_tags = memory.MemoryPostTags()
        self.waits = memory.MemoryWaits()
        self.roles = memory.MemoryRoles()
        self.communities = memory.MemoryCommunities()
        self.ratings = memory.MemoryRatings()
        self.badges = memory.MemoryBadges(self.ledger)
        self.definitions = memory.MemoryBadgeDefinitions()
        self.cpd_store = memory.MemoryCpd()
        cpd_counter = CreditCounter(self.cpd_store, clock=self.clock)
        weeks = Weeks()
        self.insights = memory.MemoryInsights(weeks)
        self.pilot = memory.MemoryPilot(self.insights)
        self.recognition_store = memory.MemoryRecognition(self.insights, self.badges, self.roles)
        self.visibility = Visibility(self.communities, self.insights, self.roles)
        self.readers = CommunityReaders(self.visibility, self.roles)
        self.content = ContentEventHandlers(
            self.ledger,
            self.live,
            self.points,
            self.rules,
            self.post_tags,
            BadgeRules(self.badges, calendar),
            self.ratings,
            self.waits,
            tags_wait=self.tags_wait,
            clock=self.clock,
        )
        self.follower = PointsFollower(self.ledger, self.live)
        self.points_rules = PointsRulesUseCases(self.rules, self.roles, self.points, self.visibility)
        self.boards = LeaderboardQueries(self.live, self.visibility)
        self.tag_boards = TagQueries(self.ledger, self.readers)
        self.insight_queries = InsightsQueries(self.insights, weeks, self.readers, self.visibility)
        self.pilots = PilotComparisons(self.pilot, self.readers, self.visibility)
        self.recognition = RecognitionUseCases(self.recognition_store, self.roles, self.visibility)
        self.cpd = CpdUseCases(
            self.cpd_store,
            cpd_counter,
            self.roles,
            self.visibility,
            issuer=ISSUER.name,
            export_max=self.cpd_export_max,
            clock=self.clock,
        )
        self.badge_use_cases = BadgeUseCases(self.badges, self.roles, self.visibility)
        self.custom_badges = BadgeDefinitionUseCases(
            self.definitions,
            self.badges,
            self.roles,
            ISSUER,
            self.readers,
            self.visibility,
            signing_key=self.signing_key,
        )
        # The consumer's order: community read models first, then points.
        self._handlers: dict[type, Handler] = combine(
            CommunityEventHandlers(self.roles, self.communities).handlers(),
            self.content.handlers(),
            CustomBadgeRules(self.definitions, self.badges, self.post_tags, calendar).handlers(),
            InsightsHandlers(self.insights).handlers(),
            PilotHandlers(self.pilot).handlers(),
            RecognitionHandlers(self.recognition_store).handlers(),
            CuratorRules(self.badges, self.ratings).handlers(),
            CpdCredits(self.cpd_store, cpd_counter, Evidence(EVIDENCE_BASE)).handlers(),
        )

    async def handle(self, event: Any) -> None:
        await self._handlers[type(event)](event)

    async def deliver(self, envelope: Envelope) -> None:
        """A received envelope decoded and handled as the consumers do (``bootstrap``'s table)."""
        await bind(DECODERS, self._handlers)[envelope.type](envelope)

    # Events, with defaults a test overrides by keyword

    async def join(self, member: str, community: str = C1, role: str = "member", **kw: Any) -> None:
        await self.handle(
            ev.MemberJoined(meta(**kw), community, member, role, region="emea", programme="sales")
        )

    async def create_community(self, community: str = C1, visibility: str = "open", **kw: Any) -> None:
        await self.handle(ev.CommunityCreated(meta(**kw), community, visibility))

    async def ask(
        self, question: str, author: str, community: str = C1, tags: tuple[str, ...] = (), **kw: Any
    ) -> EventMeta:
        m = meta(**kw)
        await self.handle(ev.QuestionAsked(m, question, community, author, tags))
        return m

    async def answer(
        self, answer: str, question: str, author: str, question_author: str, community: str = C1, **kw: Any
    ) -> EventMeta:
        m = meta(**kw)
        await self.handle(ev.AnswerPosted(m, answer, question, community, author, question_author, ()))
        return m

    async def vote(
        self,
        voter: str,
        previous: int,
        value: int,
        *,
        target: str = "a1",
        author: str = "bob",
        kind: str = "answer",
        community: str = C1,
        event_id: str = "",
        **kw: Any,
    ) -> EventMeta:
        m = meta(event_id, **kw)
        await self.handle(
            ev.VoteChanged(m, kind, target, "q1", community, voter, author, previous, value, 0, ())
        )
        return m


@asynccontextmanager
async def serving(world: World) -> AsyncIterator[api_grpc.ReputationServiceStub]:
    """The reputation gRPC service on the world's in-memory ports (``serving_in_memory``)."""
    settings = ReputationSettings(grpc_host="127.0.0.1", grpc_port=0, rate_limit_per_second=0)
    servicer = ReputationServicer(
        world.boards,
        world.points_rules,
        world.badge_use_cases,
        world.insight_queries,
        world.recognition,
        world.tag_boards,
        world.custom_badges,
        pilots=world.pilots,
        cpd=world.cpd,
    )

    def register(server: grpc.aio.Server) -> list[str]:
        api_grpc.add_ReputationServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    async with serving_in_memory(settings, register) as channel:
        yield api_grpc.ReputationServiceStub(channel)
