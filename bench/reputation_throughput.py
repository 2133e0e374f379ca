"""Content events into the points ledger: events/s processed, nothing lost or doubled, and lag.

Run: .venv/bin/python bench/reputation_throughput.py --events 5000 --members 200 --runs 3
(each event costs the same store commands whatever the ledger's size: every counter and lookup is an
``_id`` read or update; --events 300 takes about 15 seconds a run, --events 3000 about 2 minutes)
Starts its own FerretDB and NATS (or uses --mongo-uri/--nats-url), then, per run, on a fresh database
and fresh streams:
- builds N content events from M members in C communities, a realistic mix of question_asked,
  answer_posted, vote_changed (upvotes, downvotes, retractions) and answer_accepted, as envelopes of
  ``guild_common.events`` with consistent state (votes follow the voter's previous vote, one accepted
  answer per question, some answers to one's own question);
- publishes them onto the content stream with ``JetStreamPublisher``, and a fraction again with the same
  ``ce-id`` under another ``Nats-Msg-Id`` (a redelivery the stream's dedupe window does not catch);
- starts the reputation service in process (its real consumers, handlers, outbox relay and gRPC
  server; default settings, so the daily caps apply) and times the backlog drain: from start until the
  ledger holds exactly the expected entries and the consumer has acknowledged every message;
- checks nothing was lost or doubled: the ledger entry ids are exactly the expected ``<event>:<rule>``
  ids, each member's ledger sum and stored all-time total equal the expected points computed here from
  the published events (duplicates counted once, caps and retractions applied), every community's
  GetLeaderboard over gRPC is the expected top, no event was dead-lettered, every distinct event is
  recorded processed once;
- then publishes K further events at a steady rate (by default a third of the drain's rate over its last
  quarter, so the consumer is not saturated) and measures end-to-end lag: publish -> ledger write, seen
  as the entry's ``points_changed`` event on NATS (released by the outbox relay right after the write);
  and checks the ledger again.
Prints markdown tables: the figures, and where the drain's store time went (pymongo command monitoring).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import nats
import structlog
from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pymongo import AsyncMongoClient, monitoring

from guild.events.v1 import content_events_pb2 as events
from guild.events.v1 import reputation_events_pb2 as reputation_events
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.events.consumer import DEAD_LETTERS, PROCESSED
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.publisher import JetStreamPublisher
from guild_common.events.streams import ensure_stream, stream_config_for, stream_name
from guild_common.service import ServiceApp
from guild_reputation.adapters.ledger_documents import LEDGER, TOTALS, total_id
from guild_reputation.bootstrap import build
from guild_reputation.config import ReputationSettings
from guild_reputation.domain.periods import ALL_TIME, Calendar
from guild_testing.bench import CpuMeter
from guild_testing.fixtures import token_for
from guild_testing.servers import FerretServer, NatsServer

REGION, PROGRAMME = "emea", "bench"
CONSUMER = f"reputation_{stream_name('content')}"
TAGS = ("sql", "python", "excel", "crm", "onboarding", "security", "cloud", "design")
# Event mix: weights of question_asked, answer_posted, vote_changed, answer_accepted.
MIX = {"question_asked": 20, "answer_posted": 35, "vote_changed": 35, "answer_accepted": 10}


@dataclass
class Post:
    id: str
    kind: str  # question or answer
    author: str
    question_id: str
    score: int = 0


@dataclass
class Community:
    id: str
    members: list[str]
    questions: list[Post] = field(default_factory=list)
    answers: dict[str, list[Post]] = field(default_factory=lambda: defaultdict(list))  # per question
    accepted: set[str] = field(default_factory=set)  # question ids


@dataclass(frozen=True)
class Planned:
    """One event to publish and the ledger entry it should make, if any."""

    envelope: Envelope
    entry_id: str | None
    member: str
    community: str
    amount: int


class Workload:
    """Content events with consistent state, and the entries the default rules make of them.

    Entries are modelled in publish order, as the one consumer handles them: the daily cap per
    (community, member, rule, day) cuts gains, and a retraction takes back what that voter's
    upvotes earned (after caps).
    """

    def __init__(self, rng: random.Random, members: int, communities: int, settings: ReputationSettings):
        self._rng = rng
        self._calendar = Calendar(settings.leaderboard_timezone)
        self._points = {
            "question_asked": settings.points_question_asked,
            "answer_posted": settings.points_answer_posted,
            "answer_accepted": settings.points_answer_accepted,
            "upvote_received": settings.points_upvote_received,
        }
        self._caps = dict(settings.points_daily_cap)
        names = [f"member-{i:05d}" for i in range(members)]
        self.communities = [
            Community(f"community-{c:02d}", names[c::communities]) for c in range(communities)
        ]
        self._votes: dict[tuple[str, str], int] = {}  # (voter, target): -1, 0, 1
        self._upvote_net: dict[tuple[str, str], int] = defaultdict(int)  # (voter, target): points
        self._earned: dict[tuple[str, str, str, str], int] = defaultdict(int)  # capped gains per day
        self._serial = 0

    def _id(self, kind: str) -> str:
        self._serial += 1
        return f"{kind}-{self._serial:07d}"

    def _envelope(self, name: str, payload: Message, subject: str) -> Envelope:
        return new_envelope(
            service="content",
            name=name,
            payload=payload,
            subject=subject,
            region=REGION,
            programme=PROGRAMME,
        )

    def _gain(self, envelope: Envelope, rule: str, community: str, member: str) -> Planned:
        points = self._points[rule]
        cap = self._caps.get(rule, 0)
        if cap > 0:
            key = (community, member, rule, self._calendar.day(envelope.time))
            points = min(points, max(cap - self._earned[key], 0))
            self._earned[key] += points
        return Planned(envelope, f"{envelope.id}:{rule}", member, community, points)

    @staticmethod
    def _none(envelope: Envelope, community: str) -> Planned:
        return Planned(envelope, None, "", community, 0)

    def next(self) -> Planned:
        rng = self._rng
        c = rng.choice(self.communities)
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if not c.questions or len(c.members) < 2:
            kind = "question_asked"
        if kind == "answer_accepted" and not [q for q in c.questions[-50:] if self._acceptable(c, q)]:
            kind = "answer_posted"
        if kind == "question_asked":
            return self._ask(c)
        if kind == "answer_posted":
            return self._answer(c)
        if kind == "vote_changed":
            return self._vote(c)
        return self._accept(c)

    def _acceptable(self, c: Community, q: Post) -> bool:
        return q.id not in c.accepted and any(a.author != q.author for a in c.answers[q.id])

    def _ask(self, c: Community) -> Planned:
        author = self._rng.choice(c.members)
        question = Post(self._id("question"), "question", author, "")
        c.questions.append(question)
        payload = events.QuestionAsked(
            question_id=question.id,
            community_id=c.id,
            author_id=author,
            title=f"Question {question.id}",
            tags=self._rng.sample(TAGS, 2),
        )
        envelope = self._envelope("question_asked", payload, question.id)
        return self._gain(envelope, "question_asked", c.id, author)

    def _answer(self, c: Community) -> Planned:
        question = self._rng.choice(c.questions[-50:])
        # One answer in twenty is the asker's own follow-up, which earns nothing.
        if self._rng.random() < 0.05:
            author = question.author
        else:
            author = self._rng.choice([m for m in c.members if m != question.author])
        answer = Post(self._id("answer"), "answer", author, question.id)
        c.answers[question.id].append(answer)
        payload = events.AnswerPosted(
            answer_id=answer.id,
            question_id=question.id,
            community_id=c.id,
            author_id=author,
            question_author_id=question.author,
        )
        envelope = self._envelope("answer_posted", payload, answer.id)
        if author == question.author:
            return self._none(envelope, c.id)
        return self._gain(envelope, "answer_posted", c.id, author)

    def _vote(self, c: Community) -> Planned:
        question = self._rng.choice(c.questions[-50:])
        targets = [question, *c.answers[question.id]]
        target = self._rng.choice(targets)
        voter = self._rng.choice([m for m in c.members if m != target.author])
        previous = self._votes.get((voter, target.id), 0)
        # A first vote is up, or now and then down; a second takes the first back.
        value = (1 if self._rng.random() < 0.85 else -1) if previous == 0 else 0
        self._votes[(voter, target.id)] = value
        target.score += value - previous
        payload = events.VoteChanged(
            target_kind=target.kind,
            target_id=target.id,
            question_id=question.id,
            community_id=c.id,
            voter_id=voter,
            target_author_id=target.author,
            previous_value=previous,
            value=value,
            score=target.score,
        )
        envelope = self._envelope("vote_changed", payload, target.id)
        delta = int(value == 1) - int(previous == 1)
        if delta > 0:
            planned = self._gain(envelope, "upvote_received", c.id, target.author)
            self._upvote_net[(voter, target.id)] += planned.amount
            return planned
        net = self._upvote_net[(voter, target.id)]
        if delta < 0 and net > 0:
            self._upvote_net[(voter, target.id)] = 0
            return Planned(envelope, f"{envelope.id}:upvote_retracted", target.author, c.id, -net)
        return self._none(envelope, c.id)

    def _accept(self, c: Community) -> Planned:
        question = self._rng.choice([q for q in c.questions[-50:] if self._acceptable(c, q)])
        answer = self._rng.choice([a for a in c.answers[question.id] if a.author != question.author])
        c.accepted.add(question.id)
        payload = events.AnswerAccepted(
            answer_id=answer.id,
            question_id=question.id,
            community_id=c.id,
            answer_author_id=answer.author,
            question_author_id=question.author,
            accepted_by=question.author,
        )
        envelope = self._envelope("answer_accepted", payload, question.id)
        return self._gain(envelope, "answer_accepted", c.id, answer.author)

    def batch(self, n: int) -> list[Planned]:
        return [self.next() for _ in range(n)]


@dataclass
class Expected:
    entries: set[str] = field(default_factory=set)
    points: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def add(self, planned: list[Planned]) -> None:
        for p in planned:
            if p.entry_id is not None:
                check(p.entry_id not in self.entries, f"entry {p.entry_id} planned twice")
                self.entries.add(p.entry_id)
                self.points[(p.community, p.member)] += p.amount

    def top(self, community: str, n: int) -> list[tuple[str, int]]:
        board = [(m, pts) for (c, m), pts in self.points.items() if c == community]
        return sorted(board, key=lambda item: (-item[1], item[0]))[:n]


def with_duplicates(
    planned: list[Planned], fraction: float, rng: random.Random
) -> list[tuple[Envelope, bool]]:
    """The events in order, each of a ``fraction`` of them published again a little later."""
    out: list[tuple[Envelope, bool]] = [(p.envelope, False) for p in planned]
    chosen = rng.sample(range(len(planned)), int(len(planned) * fraction))
    # From the last one back, so the positions of the earlier originals stay put.
    for i in sorted(chosen, reverse=True):
        out.insert(min(len(out), i + 1 + rng.randrange(1, 50)), (planned[i].envelope, True))
    return out


async def publish_all(js: JetStreamContext, stream: list[tuple[Envelope, bool]]) -> float:
    publisher = JetStreamPublisher(js)
    started = time.perf_counter()
    for envelope, again in stream:
        if again:
            # Same ce-id, another Nats-Msg-Id: as a relay crash republishing outside the dedupe window.
            headers = {**envelope.headers(), "Nats-Msg-Id": f"{envelope.id}:again"}
            await js.publish(envelope.topic, envelope.data, headers=headers)
        else:
            await publisher.publish(envelope)
    return time.perf_counter() - started


def check(condition: bool, message: str) -> None:
    """Fail the run (kept under ``python -O``, unlike ``assert``)."""
    if not condition:
        raise AssertionError(message)


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)]


@dataclass
class RunResult:
    published: int
    duplicates: int
    publish_s: float
    drain_s: float
    # (seconds since start, messages acknowledged) through the drain.
    progress: list[tuple[float, int]]
    entries: int
    commands: int
    # Writes the commands carried: each update, insert or delete statement of a command counts (the
    # embedded store applies an update statement with one read and one write however it is batched).
    statements: int
    # Store time (ms, summed over concurrent commands) by command and collection during the drain.
    store_ms: dict[str, float]
    lags_ms: list[float]
    paced_rate: float
    # CPU ms per message during the drain, by process (this one runs the service).
    cpu_ms: dict[str, float]
    # Messages/s the machine's cores allow at that CPU cost, nothing else running.
    ceiling: float
    # The process that spent the most CPU, and the messages/s one core of it allows.
    busiest: tuple[str, float]

    def quarter_rates(self) -> tuple[float, float]:
        """Messages/s over the first and the last quarter of the drain's messages."""

        def at(share: float) -> float:
            wanted = share * self.published
            return next(t for t, acked in self.progress if acked >= wanted)

        quarter = self.published / 4
        return quarter / at(0.25), _last_quarter_rate(self.progress, self.published, self.drain_s)


def _last_quarter_rate(progress: list[tuple[float, int]], messages: int, drain_s: float) -> float:
    """Messages/s over the last quarter of a drain's messages."""
    three_quarters = next(t for t, acked in progress if acked >= 0.75 * messages)
    return (messages / 4) / max(drain_s - three_quarters, 1e-3)


class CommandCounter(monitoring.CommandListener):
    """Counts the commands sent to one database while ``counting``, and their time by command and
    collection."""

    def __init__(self) -> None:
        self.database = ""
        self.counting = False
        self.count = 0
        self.statements = 0
        self.millis: dict[str, float] = defaultdict(float)
        self._started: dict[int, str] = {}

    def reset(self, database: str) -> None:
        self.database, self.count, self.statements, self.counting = database, 0, 0, True
        self.millis.clear()
        self._started.clear()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.counting and event.database_name == self.database:
            self.count += 1
            writes: list[Any] = next(
                (event.command[k] for k in ("updates", "documents", "deletes") if k in event.command), []
            )
            self.statements += len(writes) if event.command_name in ("update", "insert", "delete") else 0
            target = event.command.get(event.command_name)
            where = target if isinstance(target, str) else ""
            self._started[event.request_id] = f"{event.command_name} {where}".strip()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        key = self._started.pop(event.request_id, None)
        if key is not None:
            self.millis[key] += event.duration_micros / 1000

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.succeeded(event)  # type: ignore[arg-type]


COMMANDS = CommandCounter()


async def _wait_drained(
    db: Any, js: JetStreamContext, entries: int, timeout: float, started: float
) -> tuple[float, list[tuple[float, int]]]:
    """Seconds from ``started`` until the consumer has acknowledged every message and the ledger holds
    ``entries``; and the progress of acknowledgements (consumer state polled every 0.1 s, the ledger
    counted only once everything is acknowledged, to keep the probe off the store)."""
    progress: list[tuple[float, int]] = []
    count = -1
    while True:
        elapsed = time.perf_counter() - started
        try:
            info = await js.consumer_info(stream_name("content"), CONSUMER)
        except Exception:
            info = None  # the service has not subscribed yet
        if info is not None:
            progress.append((elapsed, int(info.ack_floor.stream_seq if info.ack_floor else 0)))
            if not info.num_pending and not info.num_ack_pending:
                count = await db[LEDGER].count_documents({})
                check(count <= entries, f"ledger holds {count} entries, more than the {entries} expected")
                if count == entries:
                    return time.perf_counter() - started, progress
        if elapsed > timeout:
            raise AssertionError(f"not drained within {timeout}s: ledger {count} of {entries} entries")
        await asyncio.sleep(0.1)


async def _verify(db: Any, port: int, expected: Expected, communities: list[Community]) -> None:
    ids = {doc["_id"] async for doc in db[LEDGER].find({}, {"_id": 1})}
    lost, extra = expected.entries - ids, ids - expected.entries
    check(not lost and not extra, f"ledger: {len(lost)} entries lost, {len(extra)} unexpected")
    sums: dict[tuple[str, str], int] = defaultdict(int)
    async for doc in db[LEDGER].find({}, {"community_id": 1, "member_id": 1, "amount": 1}):
        sums[(doc["community_id"], doc["member_id"])] += int(doc["amount"])
    check(dict(sums) == dict(expected.points), "ledger sums differ from the expected points")
    wanted_totals = {total_id(c, ALL_TIME, m): pts for (c, m), pts in expected.points.items()}
    stored = {
        doc["_id"]: int(doc["points"])
        async for doc in db[TOTALS].find({"_id": {"$in": list(wanted_totals)}}, {"points": 1})
    }
    check(stored == wanted_totals, "stored all-time totals differ from the expected points")
    check(await db[DEAD_LETTERS].count_documents({}) == 0, "events were dead-lettered")
    metadata = [("authorization", f"Bearer {token_for('bench')}")]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = api_grpc.ReputationServiceStub(channel)
        for c in communities:
            board = await stub.GetLeaderboard(
                api.GetLeaderboardRequest(community_id=c.id, top=20), metadata=metadata
            )
            got = [(s.member_id, int(s.points)) for s in board.standings]
            check(got == expected.top(c.id, 20), f"{c.id}: leaderboard differs from the expected top")


async def _paced(
    js: JetStreamContext,
    nc: Any,
    workload: Workload,
    expected: Expected,
    count: int,
    rate: float,
    timeout: float,
) -> tuple[list[float], float]:
    """Publish ``count`` events at ``rate``/s; lag of each entry from publish to its points_changed."""
    if count <= 0:
        return [], 0.0
    planned = workload.batch(count)
    expected.add(planned)
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = asyncio.Event()
    wanted = {p.envelope.id for p in planned if p.entry_id is not None}

    async def on_points(msg: Msg) -> None:
        changed = reputation_events.PointsChanged()
        changed.ParseFromString(msg.data)
        if changed.source_event_id in wanted and changed.source_event_id not in seen:
            seen[changed.source_event_id] = time.perf_counter()
            if len(seen) == len(wanted):
                done.set()

    sub = await nc.subscribe("guild.*.*.reputation.points_changed", cb=on_points)
    publisher = JetStreamPublisher(js)
    started = time.perf_counter()
    for i, p in enumerate(planned):
        due = started + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        sent[p.envelope.id] = time.perf_counter()
        await publisher.publish(p.envelope)
    achieved = count / (time.perf_counter() - started)
    try:
        await asyncio.wait_for(done.wait(), timeout=timeout)
    finally:
        await sub.unsubscribe()
    return [(seen[i] - sent[i]) * 1000 for i in wanted], achieved


async def _one_run(args: argparse.Namespace, uri: str, nats_url: str, run: int) -> RunResult:
    settings = ReputationSettings(
        mongo_uri=uri,
        mongo_db=f"guild_reputation_throughput_{run}",
        nats_url=nats_url,
        grpc_host="127.0.0.1",
        grpc_port=0,
        outbox_sweep_seconds=0.5,
        rate_limit_per_second=0,  # one caller drives the load
    )
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    for service in ("content", "reputation"):
        with contextlib.suppress(NotFoundError):  # a fresh stream per run
            await js.delete_stream(stream_name(service))
    await ensure_stream(js, stream_config_for("content", settings))
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    await client.drop_database(settings.database_name)
    db = client[settings.database_name]

    rng = random.Random(args.seed)
    workload = Workload(rng, args.members, args.communities, settings)
    planned = workload.batch(args.events)
    expected = Expected()
    expected.add(planned)
    stream = with_duplicates(planned, args.duplicates, rng)
    publish_s = await publish_all(js, stream)

    app = await ServiceApp.create(settings, build)
    meter = CpuMeter({"service": None, **args.measured})
    started = time.perf_counter()
    meter.start()
    await app.start()
    try:
        COMMANDS.reset(settings.database_name)
        drain_s, progress = await _wait_drained(db, js, len(expected.entries), args.timeout, started)
        meter.stop()
        COMMANDS.counting = False
        commands, statements, store_ms = COMMANDS.count, COMMANDS.statements, dict(COMMANDS.millis)
        rate = args.paced_rate or _last_quarter_rate(progress, len(stream), drain_s) / 3
        drained_entries = len(expected.entries)
        await asyncio.sleep(1.0)  # anything late would show as an extra entry now
        await _verify(db, app.server.port, expected, workload.communities)
        processed = [doc["_id"] async for doc in db[PROCESSED].find({}, {"_id": 1})]
        handled = sum(1 for key in processed if str(key).startswith(f"{CONSUMER}:"))
        check(handled == args.events, f"{handled} events recorded processed, not {args.events}")
        lags, achieved = await _paced(js, nc, workload, expected, args.paced, rate, args.timeout)
        await _wait_drained(db, js, len(expected.entries), args.timeout, time.perf_counter())
        await asyncio.sleep(1.0)
        await _verify(db, app.server.port, expected, workload.communities)
    finally:
        await app.stop()
        await client.close()
        await nc.close()
    return RunResult(
        published=len(stream),
        duplicates=len(stream) - len(planned),
        publish_s=publish_s,
        drain_s=drain_s,
        progress=progress,
        commands=commands,
        statements=statements,
        store_ms=store_ms,
        entries=drained_entries,
        lags_ms=lags,
        paced_rate=achieved,
        cpu_ms=meter.per_item_ms(len(stream)),
        ceiling=meter.ceiling(len(stream)),
        busiest=meter.busiest(len(stream)),
    )


def _rate(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _table(args: argparse.Namespace, results: list[RunResult]) -> Iterator[str]:
    first = results[0]
    rates = [r.published / r.drain_s for r in results]
    unique = [args.events / r.drain_s for r in results]
    quarters = [r.quarter_rates() for r in results]
    lags = [lag for r in results for lag in r.lags_ms]
    mix = ", ".join(f"{k} {v}%" for k, v in MIX.items())
    yield "| measure | value |"
    yield "|---|---|"
    yield f"| events per run | {args.events:,} ({mix}) |"
    yield f"| members, communities | {args.members:,}, {args.communities} |"
    again = f"{first.duplicates:,} ({args.duplicates:.0%})"
    yield f"| published again (same ce-id, another Nats-Msg-Id) | {again} |"
    yield f"| messages drained per run | {first.published:,} |"
    yield f"| ledger entries expected = found | {first.entries:,} |"
    yield f"| publishing onto the content stream | {_rate(first.published / first.publish_s)} msg/s |"
    runs = f"{len(results)} run{'s' if len(results) > 1 else ''}"
    each = ", ".join(_rate(r) for r in rates)
    yield f"| drain, messages/s (median of {runs}) | {_rate(statistics.median(rates))} (runs: {each}) |"
    yield f"| drain, distinct events/s (median) | {_rate(statistics.median(unique))} |"
    yield (
        f"| drain, messages/s over the first / last quarter (median) | "
        f"{_rate(statistics.median(q[0] for q in quarters))} / "
        f"{_rate(statistics.median(q[1] for q in quarters))} |"
    )
    yield f"| drain time (median) | {statistics.median(r.drain_s for r in results):,.1f} s |"
    yield (
        f"| store commands per message (reputation database, median) | "
        f"{statistics.median(r.commands / r.published for r in results):.1f} |"
    )
    yield (
        f"| store write statements per message (updates, inserts, deletes; median) | "
        f"{statistics.median(r.statements / r.published for r in results):.1f} |"
    )
    cpu = ", ".join(
        f"{name} {statistics.median(r.cpu_ms[name] for r in results):.2f} ms" for name in first.cpu_ms
    )
    yield f"| CPU per message during the drain (median) | {cpu} |"
    ceiling = statistics.median(r.ceiling for r in results)
    yield f"| messages/s the cores allow at that CPU cost (median) | {_rate(ceiling)} |"
    busiest = first.busiest[0]
    bound = statistics.median(r.busiest[1] for r in results)
    yield f"| messages/s one core of the busiest process ({busiest}) allows (median) | {_rate(bound)} |"
    yield "| entries lost / doubled, dead letters, points off | 0 / 0, 0, 0 (checked) |"
    if lags:
        yield (
            f"| lag publish → points_changed at {statistics.median(r.paced_rate for r in results):.1f} "
            f"events/s, median / p99 ({len(lags)} entries) | {statistics.median(lags):,.0f} ms / "
            f"{_pct(lags, 0.99):,.0f} ms |"
        )


def _store_table(results: list[RunResult], top: int = 8) -> Iterator[str]:
    """Where the drain's store time went, summed over the runs."""
    millis: dict[str, float] = defaultdict(float)
    for r in results:
        for key, ms in r.store_ms.items():
            millis[key] += ms
    messages = sum(r.published for r in results)
    total = sum(millis.values()) or 1.0
    yield "| store command, collection | ms per message | share |"
    yield "|---|---|---|"
    for key, ms in sorted(millis.items(), key=lambda item: -item[1])[:top]:
        yield f"| {key} | {ms / messages:,.1f} | {ms / total:.0%} |"


async def _run(args: argparse.Namespace, uri: str, nats_url: str) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    monitoring.register(COMMANDS)
    results = []
    for run in range(args.runs):
        result = await _one_run(args, uri, nats_url, run)
        lag = f"; lag median {statistics.median(result.lags_ms):,.0f} ms" if result.lags_ms else ""
        print(
            f"run {run + 1}: {result.published:,} messages drained in {result.drain_s:,.1f} s "
            f"({_rate(result.published / result.drain_s)}/s), "
            f"{result.commands / result.published:.1f} store commands each{lag}",
            flush=True,
        )
        results.append(result)
    print()
    for line in _table(args, results):
        print(line)
    print()
    for line in _store_table(results):
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=5_000, help="distinct content events per run")
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--communities", type=int, default=4)
    parser.add_argument("--duplicates", type=float, default=0.1, help="share of events published twice")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--paced", type=int, default=200, help="events published at a steady rate for lag")
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=0.0,
        help="events/s of the paced phase; 0: a third of the drain's rate over its last quarter",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds a drain may take")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mongo-uri", default="", help="use this MongoDB/FerretDB instead of starting one")
    parser.add_argument("--nats-url", default="", help="use this NATS (JetStream) instead of starting one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="guild-bench-") as tmp:
        servers: list[FerretServer | NatsServer] = []
        try:
            uri = args.mongo_uri
            if not uri:
                ferret = FerretServer(data_dir=Path(tmp) / "ferretdb", log_dir=Path(tmp) / "logs")
                ferret.start()
                servers.append(ferret)
                uri = ferret.uri
            nats_url = args.nats_url
            if not nats_url:
                nats_server = NatsServer(data_dir=Path(tmp) / "nats", log_dir=Path(tmp) / "logs")
                nats_server.start()
                servers.append(nats_server)
                nats_url = nats_server.url
            # CPU is measured for this process and the servers it started.
            args.measured = {
                "store" if isinstance(server, FerretServer) else "nats": server.process.pid
                for server in servers
                if server.process
            }
            asyncio.run(_run(args, uri, nats_url))
        finally:
            for server in reversed(servers):
                server.stop()


if __name__ == "__main__":
    main()
