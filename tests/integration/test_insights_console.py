"""The insights console in a real headless Chromium, over community, content and reputation as processes.

An L&D manager owns a pilot community and its control in one programme; members join, ask, answer and
accept; the pilot has goals, CPD rules (a member shares her totals) and the control group set. Someone
else owns a hidden community in the same programme. The manager opens the console, pastes her token and
picks the pilot: every chart is drawn (Chart.js instances with the seeded figures, canvases with ink).
A member of the pilot who does not belong to the hidden community sees nothing of it: not in the lists,
403 or 404 for its figures, its name nowhere in what the console answers.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
from google.protobuf.timestamp_pb2 import Timestamp
from playwright.async_api import BrowserContext, Page, async_playwright
from tests.integration.console_process import running_console
from tests.integration.harness import SuiteProcesses

from guild.community.v1 import community_pb2 as cpb
from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.community.v1 import goal_pb2 as gpb
from guild.content.v1 import content_service_pb2 as content_api
from guild.content.v1 import content_service_pb2_grpc as content_grpc
from guild.reputation.v1 import cpd_pb2
from guild.reputation.v1 import reputation_service_pb2 as reputation_api
from guild.reputation.v1 import reputation_service_pb2_grpc as reputation_grpc
from guild_console.weeks import recent_weeks
from guild_testing.calendar import clear_of_midnight
from guild_testing.fixtures import auth, token_for
from guild_testing.polling import eventually

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OWNER, HIDDEN_OWNER, OUTSIDER = "olivia", "hank", "zed"
PILOT_MEMBERS = ("ann", "bob", "cat", "dan", "eve")
CONTROL_MEMBERS = ("fay", "gus")
PROGRAMME = "data"
HIDDEN_NAME = "Mergers taskforce"
CPD_MINUTES = 45
CHARTS = ("participation", "answers", "goals", "pilot", "leaderboard", "cpd")


@pytest.fixture(scope="module")
def suite_services() -> tuple[str, ...]:
    return ("community", "content", "reputation")


class Seeded:
    def __init__(self, pilot: str, control: str, hidden: str) -> None:
        self.pilot, self.control, self.hidden = pilot, control, hidden


async def _community(
    stub: community_grpc.CommunityServiceStub,
    owner: str,
    name: str,
    visibility: int,
    members: tuple[str, ...],
) -> str:
    created: community_api.CreateCommunityResponse = await stub.CreateCommunity(
        community_api.CreateCommunityRequest(
            name=name,
            slug=name.lower().replace(" ", "-"),
            programme=PROGRAMME,
            region="emea",
            visibility=visibility,  # type: ignore[arg-type]
            request_id=name,
        ),
        metadata=auth(owner),
    )
    cid = created.community.id
    for member in members:
        if visibility == cpb.VISIBILITY_HIDDEN:
            await stub.InviteMember(
                community_api.InviteMemberRequest(community_id=cid, member_id=member), metadata=auth(owner)
            )
            await stub.AcceptInvitation(
                community_api.AcceptInvitationRequest(community_id=cid), metadata=auth(member)
            )
        else:
            await stub.JoinCommunity(
                community_api.JoinCommunityRequest(community_id=cid), metadata=auth(member)
            )
    return cid


async def _ask(content: content_grpc.ContentServiceStub, cid: str, author: str, title: str) -> str:
    asked: content_api.AskQuestionResponse = await content.AskQuestion(
        content_api.AskQuestionRequest(community_id=cid, title=title), metadata=auth(author)
    )
    return asked.question.id


async def _answer(content: content_grpc.ContentServiceStub, question_id: str, author: str) -> str:
    answered: content_api.AnswerQuestionResponse = await content.AnswerQuestion(
        content_api.AnswerQuestionRequest(question_id=question_id, body="Start from the shared notebook."),
        metadata=auth(author),
    )
    return answered.answer.id


async def _seed(suite: SuiteProcesses) -> Seeded:
    # The console draws this week's figures: seeding and drawing must fall in one ISO week.
    await clear_of_midnight()
    community = community_grpc.CommunityServiceStub(suite.channel("community"))
    content = content_grpc.ContentServiceStub(suite.channel("content"))
    reputation = reputation_grpc.ReputationServiceStub(suite.channel("reputation"))
    owner = auth(OWNER)

    pilot = await _community(
        community, OWNER, "Data guild pilot", cpb.VISIBILITY_OPEN, (*PILOT_MEMBERS, OUTSIDER)
    )
    control = await _community(community, OWNER, "Data guild control", cpb.VISIBILITY_OPEN, CONTROL_MEMBERS)
    hidden = await _community(community, HIDDEN_OWNER, HIDDEN_NAME, cpb.VISIBILITY_HIDDEN, ("ann",))

    await reputation.SetCpdRules(
        reputation_api.SetCpdRulesRequest(
            community_id=pilot,
            rules=cpd_pb2.CpdRules(
                activities=[
                    cpd_pb2.CpdActivityRule(
                        activity=cpd_pb2.CPD_ACTIVITY_ANSWER_ACCEPTED, minutes=CPD_MINUTES
                    )
                ],
                year_cap_minutes=6000,
                year_start_month=1,
            ),
        ),
        metadata=owner,
    )
    await reputation.SetCpdSharing(
        reputation_api.SetCpdSharingRequest(community_id=pilot, shared=True), metadata=auth("bob")
    )
    deadline = Timestamp(seconds=int(time.time()) + 60 * 86400)
    for metric, target in (
        (gpb.GOAL_METRIC_QUESTIONS_ANSWERED_WITHIN_24H_PCT, 80.0),
        (gpb.GOAL_METRIC_WEEKLY_ACTIVE_MEMBERS_PCT, 50.0),
    ):
        await community.CreateGoal(
            community_api.CreateGoalRequest(
                community_id=pilot, metric=metric, target=target, deadline=deadline
            ),
            metadata=owner,
        )
    await community.SetPilotControl(
        community_api.SetPilotControlRequest(community_id=pilot, control_community_id=control), metadata=owner
    )

    # In the pilot three questions, two answered, one accepted; in the control one answered; in the
    # hidden community one question.
    q1 = await _ask(content, pilot, "ann", "Which notebook holds the churn model?")
    a1 = await _answer(content, q1, "bob")
    await content.AcceptAnswer(
        content_api.AcceptAnswerRequest(question_id=q1, answer_id=a1), metadata=auth("ann")
    )
    q2 = await _ask(content, pilot, "cat", "Where do the weekly extracts land?")
    await _answer(content, q2, "dan")
    await _ask(content, pilot, "eve", "Who reviews new dashboards?")
    q4 = await _ask(content, control, "fay", "How do we name tables?")
    await _answer(content, q4, "gus")
    await _ask(content, hidden, "ann", "Which targets are in scope?")

    async def settled() -> tuple[Any, ...]:
        board: reputation_api.GetLeaderboardResponse = await reputation.GetLeaderboard(
            reputation_api.GetLeaderboardRequest(community_id=pilot), metadata=owner
        )
        cpd: reputation_api.ListCpdMemberTotalsResponse = await reputation.ListCpdMemberTotals(
            reputation_api.ListCpdMemberTotalsRequest(community_id=pilot), metadata=owner
        )
        week: reputation_api.GetInsightsResponse = await reputation.GetInsights(
            reputation_api.GetInsightsRequest(community_id=pilot), metadata=owner
        )
        try:
            await reputation.ComparePilot(
                reputation_api.ComparePilotRequest(community_id=pilot), metadata=owner
            )
            compared = True
        except grpc.aio.AioRpcError:
            compared = False
        return (
            "bob" in {s.member_id for s in board.standings},
            [(t.member_id, t.counted_minutes) for t in cpd.totals],
            (week.insights.questions_asked, week.insights.questions_answered),
            compared,
        )

    await eventually(settled, lambda s: s == (True, [("bob", CPD_MINUTES)], (3, 2), True), timeout=60)
    return Seeded(pilot, control, hidden)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seeded(suite: SuiteProcesses) -> Seeded:
    return await _seed(suite)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def console(suite: SuiteProcesses) -> AsyncIterator[str]:
    async with running_console(suite) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def browser() -> AsyncIterator[BrowserContext]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs it", pytrace=False)
    with tempfile.TemporaryDirectory(prefix="guild-chromium-") as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            # The page must need nothing from outside the console.
            await context.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith("http://127.0.0.1:") else route.abort()
                ),
            )
            try:
                yield context
            finally:
                await context.close()


async def _sign_in(context: BrowserContext, url: str, subject: str) -> Page:
    page = await context.new_page()
    await page.goto(url)
    await page.fill("#token", token_for(subject))
    await page.click("#token-form button[type=submit]")
    await page.wait_for_selector('body[data-loaded="communities"]')
    return page


_READ_CHARTS = """(names) => Object.fromEntries(names.map((name) => {
  const canvas = document.getElementById(`chart-${name}`);
  const chart = window.Chart.getChart(canvas);
  if (!chart) return [name, null];
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) ink++;
  return [name, {
    labels: chart.data.labels,
    datasets: Object.fromEntries(chart.data.datasets.map((d) => [d.label, d.data])),
    ink,
  }];
}))"""


async def test_the_console_draws_a_pilot_s_figures(
    suite: SuiteProcesses, seeded: Seeded, console: str, browser: BrowserContext
) -> None:
    page = await _sign_in(browser, console, OWNER)
    assert "token" not in page.url
    names = await page.eval_on_selector_all("#community option", "(os) => os.map((o) => o.textContent)")
    assert "Data guild pilot" in names
    assert HIDDEN_NAME not in names

    await page.select_option("#community", seeded.pilot)
    await page.wait_for_selector(f'body[data-loaded="community:{seeded.pilot}"]')
    states = await page.eval_on_selector_all(
        "main section", "(ss) => Object.fromEntries(ss.map((s) => [s.dataset.panel, s.dataset.state]))"
    )
    assert states == dict.fromkeys(CHARTS, "ready")
    charts = await page.evaluate(_READ_CHARTS, list(CHARTS))
    for name in CHARTS:
        assert charts[name]["ink"] > 0, f"{name} is blank"

    this_week = recent_weeks(datetime.now(UTC), 8)[-1]
    participation = charts["participation"]
    assert participation["labels"][-1] == this_week
    assert participation["datasets"]["Members"][-1] == 1 + len(PILOT_MEMBERS) + 1
    assert participation["datasets"]["Contributors"][-1] == len(PILOT_MEMBERS)
    assert participation["datasets"]["Posts"][-1] == 3 + 2
    assert charts["answers"]["datasets"]["Questions answered (%)"][-1] == pytest.approx(66.7)
    assert charts["answers"]["datasets"]["Median hours to first answer"][-1] is not None

    goals = charts["goals"]
    assert [label.split(" (")[0] for label in goals["labels"]] == [
        "questions answered within 24h pct",
        "weekly active members pct",
    ]
    assert goals["datasets"]["Target"] == [80, 50]

    pilot = charts["pilot"]
    assert pilot["labels"] == ["participation pct", "questions answered pct"]
    answered = pilot["labels"].index("questions answered pct")
    assert pilot["datasets"]["Pilot"][answered] == pytest.approx(66.7)
    assert pilot["datasets"]["Control"][answered] == pytest.approx(100.0)
    low, high = pilot["datasets"]["95 % interval of the difference"][answered]
    assert low <= pilot["datasets"]["Difference"][answered] <= high
    assert "Median hours to first answer: pilot" in await page.inner_text('section[data-panel="pilot"] .note')

    assert "bob" in " ".join(charts["leaderboard"]["labels"])
    assert charts["cpd"]["labels"] == ["bob"]
    assert charts["cpd"]["datasets"][next(iter(charts["cpd"]["datasets"]))] == [CPD_MINUTES]

    # The programme as a whole: participation only, without the hidden community's question.
    await page.select_option("#programme", PROGRAMME)
    await page.wait_for_selector(f'body[data-loaded="programme:{PROGRAMME}"]')
    programme = (await page.evaluate(_READ_CHARTS, ["participation"]))["participation"]
    assert programme["datasets"]["Posts"][-1] == (3 + 2) + (1 + 1)
    assert await page.is_hidden('section[data-panel="goals"]')


async def test_a_viewer_without_rights_sees_nothing_of_a_hidden_community(
    seeded: Seeded, console: str, browser: BrowserContext
) -> None:
    page = await _sign_in(browser, console, OUTSIDER)
    names = await page.eval_on_selector_all("#community option", "(os) => os.map((o) => o.textContent)")
    assert "Data guild pilot" in names
    assert HIDDEN_NAME not in names
    assert HIDDEN_NAME not in await page.content()

    # Asked for directly, from the page with the viewer's token, each of its figures is refused.
    answers = await page.evaluate(
        """async (paths) => Promise.all(paths.map(async (path) => {
          const token = sessionStorage.getItem("guild.console.token");
          const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
          return [response.status, await response.text()];
        }))""",
        [
            f"/api/communities/{seeded.hidden}/{part}"
            for part in ("participation", "goals", "pilot", "leaderboard", "cpd")
        ],
    )
    for status, body in answers:
        assert status in (403, 404)
        assert HIDDEN_NAME not in body
        assert seeded.hidden not in body

    # Its own member sees it: the name is held back from the outsider alone.
    async with httpx.AsyncClient(base_url=console) as client:
        member = await client.get("/api/communities", headers={"authorization": f"Bearer {token_for('ann')}"})
        outsider = await client.get(
            "/api/communities", headers={"authorization": f"Bearer {token_for(OUTSIDER)}"}
        )
    assert HIDDEN_NAME in [c["name"] for c in member.json()["communities"]]
    assert HIDDEN_NAME not in outsider.text
    assert seeded.hidden not in json.dumps(outsider.json())


async def test_the_console_answers_with_security_headers_and_without_a_token_refuses(console: str) -> None:
    async with httpx.AsyncClient(base_url=console) as client:
        page = await client.get("/")
        anonymous = await client.get("/api/communities")
        forged = await client.get("/api/communities", headers={"authorization": "Bearer a.b.c"})
        odd = await client.get(
            "/api/communities/%3Cscript%3E/goals", headers={"authorization": f"Bearer {token_for(OWNER)}"}
        )
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in page.headers
    assert anonymous.status_code == 401
    assert forged.status_code == 401
    assert odd.status_code == 400
    assert "script" not in odd.text
