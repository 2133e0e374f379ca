"""Fixtures for whole-suite integration tests: the services as processes, traced into a receiver.

Fixtures:

``otlp`` (session)
    An ``OtlpReceiver`` (``tests.integration.otlp``) every service process exports its spans to.
    Spans accumulate over the session: filter by ``trace_id`` (or call ``otlp.clear()``).
``suite_services`` (module)
    The services ``suite`` runs: all four. Override it in a test module to run fewer.
``suite_env`` (module)
    Extra environment for every service process (default none). Override it in a test module,
    e.g. to set ``GUILD_SHUTDOWN_GRACE_SECONDS``.
``suite`` (module)
    A started ``SuiteProcesses`` (``tests.integration.harness``): every service SERVING, with fresh
    databases and empty JetStream. At module end it is stopped with ``stop_all``, which fails the
    last test's teardown if any service does not exit with code 0 within 15 s.

Call metadata with a dev token: ``from guild_testing.fixtures import auth``; ``auth("alice")``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping

import pytest
import pytest_asyncio
from tests.integration.harness import SuiteProcesses, available_services, reset_jetstream
from tests.integration.otlp import OtlpReceiver

from guild_testing.fixtures import Infra


@pytest.fixture(scope="session")
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def suite_services() -> tuple[str, ...]:
    return available_services()


@pytest.fixture(scope="module")
def suite_env() -> Mapping[str, str]:
    return {}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def suite(
    infra: Infra, otlp: OtlpReceiver, suite_services: tuple[str, ...], suite_env: Mapping[str, str]
) -> AsyncIterator[SuiteProcesses]:
    await reset_jetstream(infra.nats_url)
    processes = SuiteProcesses.for_infra(
        infra, otlp_endpoint=otlp.endpoint, services=suite_services, extra_env=suite_env
    )
    try:
        await processes.start_all()
        yield processes
        await processes.stop_all()
    finally:
        await processes.aclose()
