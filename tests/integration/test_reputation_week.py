"""A week of community activity turning into recognition, over the services as separate processes.

An owner creates a community and sets a goal; four members join, ask, answer (one answers her own
question), vote (an upvote, a downvote, a retraction), accept and share and rate a resource, all through
the community and content RPCs. Reputation hears of it by events only: the points in the ledger and on
GetStanding, the first-question/answer/accepted-answer badges, the weekly and all-time leaderboards, a
contribution summary and the goal's progress are all what the default rules and the actions imply.

The expected figures are computed here from the actions as they are made, with the points of each rule
read from GetPointsRules (the deployment's defaults, as the community sets none); sharing and good
ratings of a resource earn its author points where the deployment has those rules. An acceptance dated
last week, published onto the content stream as the content service would have published it then, gives
one member points that count all time but not this week, so the two boards differ.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import nats
import pytest
import pytest_asyncio
from google.protobuf.timestamp_pb2 import Timestamp
from pymongo import AsyncMongoClient
from tests.integration.harness import SuiteProcesses

from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.community.v1 import goal_pb2
from guild.content.v1 import content_service_pb2 as content_api
from guild.content.v1 import content_service_pb2_grpc as content_grpc
from guild.content.v1 import question_pb2
from guild.events.v1 import content_events_pb2 as content_events
from guild.reputation.v1 import badge_pb2, insights_pb2, leaderboard_pb2
from guild.reputation.v1 import reputation_service_pb2 as reputation_api
from guild.reputation.v1 import reputation_service_pb2_grpc as reputation_grpc
from guild_common.events.envelope import new_envelope
from guild_common.events.publisher import JetStreamPublisher
from guild_testing import polling
from guild_testing.calendar import clear_of_midnight
from guild_testing.fixtures import Infra, auth

T = TypeVar("T")
OWNER = "olivia"
MEMBERS = ("ann", "bob", "cat", "dan")
REGION, PROGRAMME = "emea", "data"
GOAL_METRIC = goal_pb2.GOAL_METRIC_QUESTIONS_ANSWERED_WITHIN_24H_PCT
BRONZE = int(badge_pb2.BADGE_TIER_BRONZE)

# The rules this scenario's actions earn by (those about resources only where the deployment has them),
# the rules it never triggers, and the badge the first entry of each rule brings.
MODELLED_RULES = {
    "question_asked",
    "answer_posted",
    "answer_accepted",
    "upvote_received",
    "resource_shared",
    "resource_rated",
}
NOT_TRIGGERED = {"collection_followed", "survey_answered"}
# Stars from which someone else's rating earns a resource's author points.
GOOD_RATING = 4
FIRST_BADGE = {
    "question_asked": "first_question",
    "answer_posted": "first_answer",
    "answer_accepted": "first_accepted_answer",
}


@pytest.fixture(scope="module")
def suite_services() -> tuple[str, ...]:
    return ("community", "content", "reputation")


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float = 30.0
) -> T:
    """The shared poll with this scenario's longer default deadline."""
    return await polling.eventually(probe, accept, timeout)


async def until_equal(probe: Callable[[], Awaitable[T]], wanted: T, timeout: float = 30.0) -> T:
    """Poll ``probe`` until it returns ``wanted``; fail with the last value seen."""
    return await eventually(probe, lambda value: value == wanted, timeout)


@dataclass(frozen=True)
class Entry:
    member: str
    rule: str
    amount: int
    this_week: bool = True


@dataclass
class Question:
    author: str
    tags: list[str]
    answered_by_others: bool = False


@dataclass
class Week:
    """The actions as made, and what the default rules make of them."""

    community_id: str
    rules: dict[str, int]
    started: datetime
    entries: list[Entry] = field(default_factory=list)
    questions: dict[str, Question] = field(default_factory=dict)
    answers: dict[str, tuple[str, str]] = field(default_factory=dict)  # id: (author, question id)
    accepted: set[str] = field(default_factory=set)
    upvotes: set[tuple[str, str]] = field(default_factory=set)  # (voter, target id)
    resources: dict[str, str] = field(default_factory=dict)  # id: author
    ratings: dict[str, list[int]] = field(default_factory=dict)  # resource id: stars
    ended: datetime | None = None

    def earn(self, member: str, rule: str, *, this_week: bool = True) -> None:
        """An entry by ``rule``; nothing where the deployment has no such rule."""
        if rule in self.rules:
            self.entries.append(Entry(member, rule, self.rules[rule], this_week))

    def totals(self, *, this_week_only: bool = False) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for entry in self.entries:
            if entry.this_week or not this_week_only:
                totals[entry.member] += entry.amount
        return dict(totals)

    def board(self, *, this_week_only: bool = False) -> list[tuple[str, int]]:
        """Most points first, ties by member id."""
        totals = self.totals(this_week_only=this_week_only)
        return sorted(totals.items(), key=lambda item: (-item[1], item[0]))

    def badges(self, member: str) -> set[tuple[str, int]]:
        return {
            (FIRST_BADGE[e.rule], BRONZE)
            for e in self.entries
            if e.member == member and e.rule in FIRST_BADGE
        }


@dataclass
class Clients:
    community: community_grpc.CommunityServiceStub
    content: content_grpc.ContentServiceStub
    reputation: reputation_grpc.ReputationServiceStub


class Actions:
    """Community and content RPCs as client apps make them, each recorded in the ``Week``."""

    def __init__(self, clients: Clients, week: Week) -> None:
        self._c = clients
        self.week = week

    async def ask(self, member: str, title: str, tags: list[str]) -> str:
        asked = await self._c.content.AskQuestion(
            content_api.AskQuestionRequest(community_id=self.week.community_id, title=title, tags=tags),
            metadata=auth(member),
        )
        self.week.questions[asked.question.id] = Question(member, tags)
        self.week.earn(member, "question_asked")
        return str(asked.question.id)

    async def answer(self, member: str, question_id: str, body: str) -> str:
        answered = await self._c.content.AnswerQuestion(
            content_api.AnswerQuestionRequest(question_id=question_id, body=body), metadata=auth(member)
        )
        question = self.week.questions[question_id]
        self.week.answers[answered.answer.id] = (member, question_id)
        if member != question.author:  # no points for answering one's own question
            question.answered_by_others = True
            self.week.earn(member, "answer_posted")
        return str(answered.answer.id)

    def _author(self, target_id: str) -> str:
        if target_id in self.week.questions:
            return self.week.questions[target_id].author
        return self.week.answers[target_id][0]

    async def vote(self, voter: str, target_id: str, *, up: bool) -> None:
        direction = question_pb2.VOTE_DIRECTION_UP if up else question_pb2.VOTE_DIRECTION_DOWN
        await self._c.content.CastVote(
            content_api.CastVoteRequest(target_id=target_id, direction=direction), metadata=auth(voter)
        )
        if up:
            self.week.upvotes.add((voter, target_id))
            self.week.earn(self._author(target_id), "upvote_received")

    async def retract(self, voter: str, target_id: str) -> None:
        await self._c.content.RetractVote(
            content_api.RetractVoteRequest(target_id=target_id), metadata=auth(voter)
        )
        if (voter, target_id) in self.week.upvotes:  # what that voter's upvote earned is taken back
            self.week.upvotes.discard((voter, target_id))
            author = self._author(target_id)
            self.week.entries.append(Entry(author, "upvote_retracted", -self.week.rules["upvote_received"]))

    async def accept(self, asker: str, question_id: str, answer_id: str) -> None:
        await self._c.content.AcceptAnswer(
            content_api.AcceptAnswerRequest(question_id=question_id, answer_id=answer_id),
            metadata=auth(asker),
        )
        self.week.accepted.add(answer_id)
        author = self.week.answers[answer_id][0]
        if author != self.week.questions[question_id].author:
            self.week.earn(author, "answer_accepted")

    async def share(self, member: str, title: str, url: str) -> str:
        shared = await self._c.content.ShareResource(
            content_api.ShareResourceRequest(
                community_id=self.week.community_id, url=url, title=title, tags=["sql"]
            ),
            metadata=auth(member),
        )
        resource_id = str(shared.resource.id)
        self.week.resources[resource_id] = member
        self.week.ratings[resource_id] = []
        self.week.earn(member, "resource_shared")
        return resource_id

    async def rate(self, member: str, resource_id: str, stars: int) -> None:
        await self._c.content.RateItem(
            content_api.RateItemRequest(item_id=resource_id, stars=stars), metadata=auth(member)
        )
        self.week.ratings[resource_id].append(stars)
        # Each member's first rating here; one of 4 stars or more by someone else earns the author points.
        author = self.week.resources[resource_id]
        if stars >= GOOD_RATING and member != author:
            self.week.earn(author, "resource_rated")


async def publish_last_weeks_acceptance(infra: Infra, week: Week, member: str) -> None:
    """An answer of ``member``'s accepted eight days ago, as the content service published it then."""
    envelope = new_envelope(
        service="content",
        name="answer_accepted",
        payload=content_events.AnswerAccepted(
            answer_id="answer-last-week",
            question_id="question-last-week",
            community_id=week.community_id,
            answer_author_id=member,
            question_author_id=OWNER,
            accepted_by=OWNER,
            question_title="Where are last quarter's dashboards?",
        ),
        subject="question-last-week",
        region=REGION,
        programme=PROGRAMME,
    )
    envelope = dataclasses.replace(envelope, time=week.started - timedelta(days=8))
    nc = await nats.connect(infra.nats_url)
    try:
        await JetStreamPublisher(nc.jetstream()).publish(envelope)
    finally:
        await nc.close()
    week.earn(member, "answer_accepted", this_week=False)


@pytest.fixture(scope="module")
def clients(suite: SuiteProcesses) -> Clients:
    return Clients(
        community_grpc.CommunityServiceStub(suite.channel("community")),
        content_grpc.ContentServiceStub(suite.channel("content")),
        reputation_grpc.ReputationServiceStub(suite.channel("reputation")),
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def week(clients: Clients, infra: Infra) -> Week:
    # Boards by week and month and the daily caps count on the scenario staying in one UTC day.
    await clear_of_midnight()
    started = datetime.now(UTC)
    created = await clients.community.CreateCommunity(
        community_api.CreateCommunityRequest(
            name="Data guild", slug="data-guild", programme=PROGRAMME, region=REGION
        ),
        metadata=auth(OWNER),
    )
    community_id = created.community.id
    rules = await clients.reputation.GetPointsRules(
        reputation_api.GetPointsRulesRequest(community_id=community_id), metadata=auth(OWNER)
    )
    points = {rule.rule: int(rule.points) for rule in rules.rules}
    unmodelled = set(points) - MODELLED_RULES - NOT_TRIGGERED
    assert not unmodelled, f"rules this scenario does not model: {sorted(unmodelled)}"
    w = Week(community_id, points, started)
    act = Actions(clients, w)

    await clients.community.CreateGoal(
        community_api.CreateGoalRequest(
            community_id=community_id,
            metric=GOAL_METRIC,
            target=80.0,
            deadline=Timestamp(seconds=int(started.timestamp()) + 90 * 86400),
            request_id="answered-within-a-day",
        ),
        metadata=auth(OWNER),
    )
    for member in MEMBERS:
        await clients.community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=community_id), metadata=auth(member)
        )

    q_ann = await act.ask("ann", "How do I join two CSV exports on the customer id?", ["sql", "csv"])
    q_bob = await act.ask("bob", "Which Python library reads our parquet files?", ["python", "sql"])
    await act.ask("cat", "Is there a pivot table template for the weekly report?", ["excel"])
    a_bob = await act.answer("bob", q_ann, "Load both into DuckDB and JOIN ... USING (customer_id).")
    a_cat = await act.answer("cat", q_ann, "Use VLOOKUP on the id column.")
    a_ann_own = await act.answer("ann", q_ann, "Follow-up: the ids have leading zeros.")
    a_ann = await act.answer("ann", q_bob, "pyarrow, or pandas.read_parquet on top of it.")
    await act.vote("ann", a_bob, up=True)
    await act.vote("cat", a_bob, up=True)
    await act.vote("dan", a_ann, up=True)
    await act.vote("bob", q_ann, up=True)
    await act.vote("dan", a_cat, up=False)
    await act.retract("cat", a_bob)
    await act.accept("ann", q_ann, a_bob)
    await act.accept("bob", q_bob, a_ann)
    resource = await act.share("bob", "SQL joins, visually", "https://example.org/sql-joins")
    await act.rate("ann", resource, 5)
    await act.rate("dan", resource, 4)
    assert a_ann_own in w.answers
    await publish_last_weeks_acceptance(infra, w, "dan")
    w.ended = datetime.now(UTC)
    return w


@pytest_asyncio.fixture(loop_scope="session")
async def reputation_db(suite: SuiteProcesses) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(suite.mongo_uri)
    try:
        yield client[suite.database("reputation")]
    finally:
        await client.close()


async def test_points_follow_the_default_rules(clients: Clients, week: Week, reputation_db: Any) -> None:
    expected = week.totals()
    # The rules leave no two members level, so the order below tests the points, not the tie-break.
    assert len(set(expected.values())) == len(expected)

    async def ledger() -> list[tuple[str, str, int]]:
        docs = await reputation_db["ledger"].find({"community_id": week.community_id}).to_list()
        return sorted((d["member_id"], d["rule"], int(d["amount"])) for d in docs)

    await until_equal(ledger, sorted((e.member, e.rule, e.amount) for e in week.entries))

    for member in (*MEMBERS, OWNER):

        async def standing(m: str = member) -> tuple[int, int, int]:
            response = await clients.reputation.GetStanding(
                reputation_api.GetStandingRequest(community_id=week.community_id, member_id=m),
                metadata=auth(m),
            )
            return response.standing.points, response.standing.rank, response.total_members

        # Ranked by the expected board; the owner, without points, is unranked.
        ranked = [m for m, _ in week.board()]
        rank = ranked.index(member) + 1 if member in ranked else 0
        await until_equal(standing, (expected.get(member, 0), rank, len(ranked)))


async def test_first_question_answer_and_accepted_answer_badges(clients: Clients, week: Week) -> None:
    for member in MEMBERS:
        wanted = week.badges(member)

        async def badges(m: str = member) -> set[tuple[str, int]]:
            listed = await clients.reputation.ListBadges(
                reputation_api.ListBadgesRequest(member_id=m, community_id=week.community_id),
                metadata=auth(m),
            )
            return {(a.badge, int(a.tier)) for a in listed.awards}

        await until_equal(badges, wanted)
    # The model itself: Ann did all three; Dan only had last week's answer accepted.
    assert week.badges("ann") == {
        ("first_question", BRONZE),
        ("first_answer", BRONZE),
        ("first_accepted_answer", BRONZE),
    }
    assert week.badges("dan") == {("first_accepted_answer", BRONZE)}


async def test_weekly_and_all_time_leaderboards(clients: Clients, week: Week) -> None:
    assert week.ended is not None
    assert week.started.date() == week.ended.date(), "the scenario outran the wait before midnight"
    all_time, this_week = week.board(), week.board(this_week_only=True)
    assert all_time != this_week  # last week's acceptance counts all time only

    async def board(
        period: leaderboard_pb2.Period.ValueType, *, everywhere: bool = False
    ) -> list[tuple[str, int]]:
        response = await clients.reputation.GetLeaderboard(
            reputation_api.GetLeaderboardRequest(
                community_id=week.community_id, period=period, all_communities=everywhere
            ),
            metadata=auth(OWNER),
        )
        return [(s.member_id, s.points) for s in response.standings]

    # This month holds last week's acceptance when eight days ago fell in the same calendar month.
    last_week = week.started - timedelta(days=8)
    same_month = (last_week.year, last_week.month) == (week.started.year, week.started.month)
    this_month = all_time if same_month else this_week
    for period, wanted in (
        (leaderboard_pb2.PERIOD_ALL_TIME, all_time),
        (leaderboard_pb2.PERIOD_WEEK, this_week),
        (leaderboard_pb2.PERIOD_MONTH, this_month),
    ):
        await until_equal(functools.partial(board, period), wanted)
        # This suite runs one community, so the board across all communities is the same.
        assert await board(period, everywhere=True) == wanted


async def test_contribution_summary_counts_bobs_week(clients: Clients, week: Week) -> None:
    member = "bob"
    answered = {q for a, (author, q) in week.answers.items() if author == member}
    asked = {q for q, question in week.questions.items() if question.author == member}
    shared = [r for r, author in week.resources.items() if author == member]
    stars = [s for r in shared for s in week.ratings[r]]
    tags = Counter(tag for q in asked | answered for tag in set(week.questions[q].tags))
    wanted = {
        "questions": len(asked),
        "answers": len([a for a, (author, _) in week.answers.items() if author == member]),
        "accepted_answers": len([a for a in week.accepted if week.answers[a][0] == member]),
        "resources_shared": len(shared),
        "resource_ratings": len(stars),
        "resource_average_rating": sum(stars) / len(stars),
        "badges": len(week.badges(member)),
        "top_tags": sorted(tags.items(), key=lambda item: (-item[1], item[0])),
        "community_ids": [week.community_id],
    }

    async def summary() -> dict[str, Any]:
        response = await clients.reputation.GetContributionSummary(
            reputation_api.GetContributionSummaryRequest(member_id=member), metadata=auth(member)
        )
        s = response.summary
        return {
            "questions": s.questions,
            "answers": s.answers,
            "accepted_answers": s.accepted_answers,
            "resources_shared": s.resources_shared,
            "resource_ratings": s.resource_ratings,
            "resource_average_rating": s.resource_average_rating,
            "badges": len(s.badges),
            "top_tags": [(t.tag, t.count) for t in s.top_tags],
            "community_ids": list(s.community_ids),
        }

    seen = await until_equal(summary, wanted)
    assert (seen["questions"], seen["answers"], seen["accepted_answers"]) == (1, 1, 1)
    assert seen["resource_average_rating"] == pytest.approx(4.5)


async def test_goal_progress_of_questions_answered_within_a_day(clients: Clients, week: Week) -> None:
    goals = await clients.community.ListGoals(
        community_api.ListGoalsRequest(community_id=week.community_id), metadata=auth(OWNER)
    )
    assert [g.metric for g in goals.goals] == [GOAL_METRIC]
    metric = insights_pb2.GoalMetric.Value(goal_pb2.GoalMetric.Name(goals.goals[0].metric))
    # Every question of the week was asked minutes ago, so "answered by someone else" is "within 24 h".
    questions = list(week.questions.values())
    answered = sum(q.answered_by_others for q in questions)
    wanted = (len(questions), round(100.0 * answered / len(questions), 2))
    since = Timestamp()
    since.FromDatetime(week.started - timedelta(minutes=1))

    async def progress() -> tuple[int, float]:
        response = await clients.reputation.GetGoalProgress(
            reputation_api.GetGoalProgressRequest(community_id=week.community_id, metric=metric, since=since),
            metadata=auth(OWNER),
        )
        return int(response.sample_size), round(response.value, 2)

    # Three questions; Ann's and Bob's answered by others, Cat's not at all.
    assert await until_equal(progress, wanted) == (3, 66.67)
