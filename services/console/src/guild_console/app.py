"""The console's web app: the page, its static files and JSON endpoints over ``Queries``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import grpc
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from guild_console.backends import Backends
from guild_console.config import ConsoleSettings
from guild_console.errors import error_response, grpc_error_response
from guild_console.queries import PERIODS, Queries
from guild_console.requestlog import RequestLog
from guild_console.security import SecurityHeaders
from guild_console.viewer import Metadata, MissingToken, viewer_metadata

_COMMUNITY_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_PROGRAMME = re.compile(r"[A-Za-z0-9_-]{1,64}")

Handler = Callable[[Queries, Metadata, Request], Awaitable[dict[str, object]]]


class BadInput(Exception):
    """A path or query parameter out of bounds; answered 400 without repeating it."""


def _match(pattern: re.Pattern[str], value: str) -> str:
    if not pattern.fullmatch(value):
        raise BadInput
    return value


def _community_id(request: Request) -> str:
    return _match(_COMMUNITY_ID, request.path_params["community_id"])


def _weeks(request: Request) -> int:
    settings: ConsoleSettings = request.app.state.settings
    raw = request.query_params.get("weeks", "")
    if not raw:
        return settings.default_weeks
    if not raw.isdigit() or not 1 <= int(raw) <= settings.max_weeks:
        raise BadInput
    return int(raw)


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The viewer's token forwarded to ``handler``; failures as fixed messages (``errors``)."""

    async def run(request: Request) -> Response:
        try:
            viewer = viewer_metadata(request)
            return JSONResponse(await handler(request.app.state.queries, viewer, request))
        except MissingToken:
            return error_response(401, "sign in with a valid token")
        except BadInput:
            return error_response(400, "invalid request")
        except grpc.aio.AioRpcError as error:
            return grpc_error_response(error)

    return run


async def _communities(q: Queries, viewer: Metadata, request: Request) -> dict[str, object]:
    programme = request.query_params.get("programme", "")
    return await q.communities(viewer, _match(_PROGRAMME, programme) if programme else "")


async def _community_participation(q: Queries, viewer: Metadata, request: Request) -> dict[str, object]:
    return await q.participation(viewer, _weeks(request), community_id=_community_id(request))


async def _programme_participation(q: Queries, viewer: Metadata, request: Request) -> dict[str, object]:
    programme = _match(_PROGRAMME, request.path_params["programme"])
    return await q.participation(viewer, _weeks(request), programme=programme)


async def _goals(q: Queries, viewer: Metadata, request: Request) -> dict[str, object]:
    return await q.goals(viewer, _community_id(request))


async def _pilot(q: Queries, viewer: Metadata, request: Request) -> dict[str, object]:
    return await q.pilot(viewer, _community_id(request))


async def _leaderboard(q: Queries, viewer: Metadata, request: Request) -> dict[str, object]:
    period = request.query_params.get("period", "all")
    if period not in PERIODS:
        raise BadInput
    return await q.leaderboard(viewer, _community_id(request), period)


async def _cpd(q: Queries, viewer: Metadata, request: Request) -> dict[str, object]:
    return await q.cpd(viewer, _community_id(request))


def create_app(settings: ConsoleSettings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        backends = Backends.open(settings)
        app.state.settings = settings
        app.state.queries = Queries(backends)
        try:
            yield
        finally:
            await backends.aclose()

    async def index(_: Request) -> Response:
        return FileResponse(settings.static_dir / "index.html", media_type="text/html")

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    community = "/api/communities/{community_id}"
    routes = [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/api/communities", endpoint(_communities)),
        Route(f"{community}/participation", endpoint(_community_participation)),
        Route(f"{community}/goals", endpoint(_goals)),
        Route(f"{community}/pilot", endpoint(_pilot)),
        Route(f"{community}/leaderboard", endpoint(_leaderboard)),
        Route(f"{community}/cpd", endpoint(_cpd)),
        Route("/api/programmes/{programme}/participation", endpoint(_programme_participation)),
        Mount("/static", StaticFiles(directory=settings.static_dir, check_dir=False), name="static"),
    ]
    middleware = [Middleware(RequestLog), Middleware(SecurityHeaders)]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
