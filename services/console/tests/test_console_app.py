"""The console's HTTP surface without the services: tokens, input bounds, error mapping, headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import httpx
import pytest
import pytest_asyncio

from guild_common.profile import InsecureSettings
from guild_console.app import create_app
from guild_console.config import ConsoleSettings, check_console_profile
from guild_console.errors import grpc_error_response
from guild_console.weeks import recent_weeks
from guild_testing.fixtures import token_for
from guild_testing.processes import free_port


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # Nothing listens on these ports: every call to a service fails UNAVAILABLE.
    closed = f"127.0.0.1:{free_port()}"
    settings = ConsoleSettings(community_addr=closed, reputation_addr=closed, call_timeout_seconds=2.0)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as test_client:
            yield test_client


def _viewer(subject: str = "olivia") -> dict[str, str]:
    return {"authorization": f"Bearer {token_for(subject)}"}


async def test_the_page_is_served_with_security_headers_and_no_cors(client: httpx.AsyncClient) -> None:
    page = await client.get("/", headers={"origin": "https://elsewhere.example"})
    assert page.status_code == 200
    assert '<script type="module" src="/static/console.js">' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert not any(name.startswith("access-control-") for name in page.headers)


@pytest.mark.parametrize(
    "header", [None, "Basic b2xpdmlh", "Bearer", "Bearer not-a-jwt", "Bearer " + "a." * 5000 + "b"]
)
async def test_a_request_without_a_well_formed_bearer_token_is_refused(
    client: httpx.AsyncClient, header: str | None
) -> None:
    answer = await client.get("/api/communities", headers={"authorization": header} if header else {})
    assert answer.status_code == 401
    assert answer.json() == {"error": "sign in with a valid token"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/communities/%3Cb%3Ebad%3C/goals",
        "/api/communities/" + "x" * 200 + "/goals",
        "/api/communities/c1/participation?weeks=0",
        "/api/communities/c1/participation?weeks=27",
        "/api/communities/c1/participation?weeks=two",
        "/api/communities/c1/leaderboard?period=decade",
        "/api/communities?programme=%3Cscript%3E",
        "/api/programmes/sales%20team/participation",
    ],
)
async def test_bad_input_is_refused_without_being_repeated(client: httpx.AsyncClient, path: str) -> None:
    answer = await client.get(path, headers=_viewer())
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid request"}


async def test_an_unreachable_service_is_503_without_details(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/communities/c1/goals", headers=_viewer())
    assert answer.status_code == 503
    assert answer.json() == {"error": "a service is unavailable, try again shortly"}
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.PERMISSION_DENIED, 403),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.INTERNAL, 502),
    ],
)
def test_grpc_failures_become_http_statuses_without_their_details(code: grpc.StatusCode, status: int) -> None:
    error = grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="community Secret x")
    answer = grpc_error_response(error)
    assert answer.status_code == status
    assert b"Secret" not in answer.body


def test_recent_weeks_end_with_this_week_and_cross_the_year() -> None:
    assert recent_weeks(datetime(2027, 1, 6, tzinfo=UTC), 3) == ["2026-W52", "2026-W53", "2027-W01"]


def test_production_refuses_plaintext_calls_unless_allowed() -> None:
    with pytest.raises(InsecureSettings):
        check_console_profile(ConsoleSettings(profile="production"))
    check_console_profile(ConsoleSettings(profile="production", allow_plaintext="grpc"))
