"""Email delivery and digests on in-memory ports, with a fake mailer (the real SMTP client is tested in
``test_email``): retries with backoff lose nothing, and one digest per member and period."""

from __future__ import annotations

from datetime import timedelta

import pytest
from services.notify.tests.app_world import UNSUBSCRIBE_URL, World, who
from services.notify.tests.memory import RecordingMailer

from guild_common.clock import utc_now
from guild_notify.app.digests import DigestRunner
from guild_notify.app.email_delivery import EmailDelivery
from guild_notify.app.ports import OutgoingEmail
from guild_notify.app.preferences import PreferencesChange
from guild_notify.app.unsubscribe import DIGEST
from guild_notify.domain.digests import ContentItem, Period, digest_email_id, last_complete_period
from guild_notify.domain.preferences import DigestFrequency


def _email(email_id: str) -> OutgoingEmail:
    return OutgoingEmail(email_id, "ann@example.com", "Subject", "text", "<p>html</p>", utc_now())


def _delivery(world: World, mailer: RecordingMailer, base: float = 0.0, batch: int = 50) -> EmailDelivery:
    return EmailDelivery(
        world.emails, mailer, retry_base_seconds=base, retry_max_seconds=60.0, batch_size=batch
    )


async def test_due_emails_are_sent_once_each() -> None:
    world, mailer = World(), RecordingMailer()
    for i in range(3):
        await world.emails.enqueue(_email(f"m{i}"))
    assert await _delivery(world, mailer).deliver_due() is True
    assert [e.id for e in mailer.sent] == ["m0", "m1", "m2"]
    assert {q.status for q in world.emails.emails.values()} == {"sent"}
    assert await _delivery(world, mailer).deliver_due() is True
    assert len(mailer.sent) == 3
    assert await world.emails.next_due() is None


async def test_a_full_batch_asks_for_another_sweep_at_once() -> None:
    world, mailer = World(), RecordingMailer()
    for i in range(3):
        await world.emails.enqueue(_email(f"m{i}"))
    delivery = _delivery(world, mailer, batch=2)
    assert await delivery.sweep() is True  # a whole batch was due: sweep again
    assert await delivery.sweep() is False
    assert len(mailer.sent) == 3


async def test_a_mail_server_that_is_down_delays_email_with_backoff_but_loses_none() -> None:
    world, mailer = World(), RecordingMailer(failures=2)
    await world.emails.enqueue(_email("m1"))
    delivery = _delivery(world, mailer, base=30.0)
    before = utc_now()
    await delivery.deliver_due()
    queued = world.emails.emails["m1"]
    assert (queued.status, queued.attempts) == ("pending", 1)
    assert "smtp down" in queued.last_error
    assert before + timedelta(seconds=30) <= queued.next_attempt_time
    wait = await delivery.seconds_until_due()
    assert wait is not None
    assert 29 < wait <= 30
    await delivery.deliver_due()  # not due yet: nothing attempted
    assert (queued.attempts, mailer.sent) == (1, [])
    queued.next_attempt_time = utc_now()
    await delivery.deliver_due()
    assert (queued.status, queued.attempts) == ("pending", 2)
    assert queued.next_attempt_time >= utc_now() + timedelta(seconds=59)  # doubled: 60s
    queued.next_attempt_time = utc_now()
    await delivery.deliver_due()
    assert (queued.status, queued.attempts, [e.id for e in mailer.sent]) == ("sent", 3, ["m1"])


# --- digests -----------------------------------------------------------------------------------------


@pytest.fixture
def yesterday() -> Period:
    """The day the fixture's content is dated in, read from the clock once for the fixture and the test."""
    return last_complete_period(DigestFrequency.DAILY, utc_now())


@pytest.fixture
async def world(yesterday: Period) -> World:
    world = World()
    joined = yesterday.start - timedelta(days=30)
    await world.join("c1", "ann", "bob", "cat", "dan", "eve", at=joined)
    await world.join("c2", "ann", "fay", at=joined)
    for member, frequency in [
        ("ann", DigestFrequency.DAILY),
        ("bob", DigestFrequency.WEEKLY),
        ("cat", DigestFrequency.OFF),
        ("eve", DigestFrequency.DAILY),
        ("fay", DigestFrequency.DAILY),
    ]:
        await world.prefs_uc.update(
            who(member), PreferencesChange(email_address=f"{member}@example.com", digest_frequency=frequency)
        )
    await world.prefs_uc.update(
        who("dan"), PreferencesChange(digest_frequency=DigestFrequency.DAILY)
    )  # no address
    await world.prefs_uc.update(who("eve"), PreferencesChange(muted_community_ids=["c1"]))
    for i, (community, hours) in enumerate([("c1", 1), ("c1", 5), ("c3", 2), ("c1", -2)]):
        at = yesterday.start + timedelta(hours=hours)
        await world.feed.record(ContentItem(f"question:q{i}", community, "question", f"Q{i}", "zed", at))
    return world


def _runner(world: World) -> DigestRunner:
    return DigestRunner(
        world.memberships,
        world.preferences,
        world.feed,
        world.runs,
        world.emails,
        world.tokens,
        UNSUBSCRIBE_URL,
    )


async def test_a_digest_bundles_the_periods_new_content_once_per_member(
    world: World, yesterday: Period
) -> None:
    period = yesterday
    assert await _runner(world).run(period) == 1
    [email] = world.emails.queued
    assert (email.id, email.to) == (digest_email_id(period, "ann"), "ann@example.com")
    assert email.subject == f"Your Guild digest: 2 new items ({period.key})"
    assert "[question] Q0" in email.text
    assert "[question] Q1" in email.text
    assert "Q2" not in email.text  # another community
    assert "Q3" not in email.text  # before the period
    token = email.text.split("token=")[1].split()[0]
    assert world.tokens.verify(token) == ("ann", DIGEST)
    # bob is weekly, cat has digests off, dan has no address, eve muted c1, fay's community was quiet.
    assert await _runner(world).run(period) == 0  # the period is done
    assert len(world.emails.queued) == 1


async def test_a_run_that_stopped_midway_queues_each_digest_once(world: World, yesterday: Period) -> None:
    period = yesterday
    await _runner(world).run(period)
    world.runs.runs.clear()  # as if the run had stopped before marking the period done
    assert await _runner(world).run(period) == 0
    assert len(world.emails.queued) == 1
    assert world.runs.runs == {f"daily:{period.key}": 0}


async def test_a_weekly_digest_goes_to_weekly_subscribers_with_the_weeks_content(
    world: World, yesterday: Period
) -> None:
    day = yesterday
    week = Period(
        DigestFrequency.WEEKLY, "2026-W99", day.start - timedelta(days=3), day.start + timedelta(days=4)
    )
    assert await _runner(world).run(week) == 1
    [email] = world.emails.queued
    assert (email.to, email.subject) == ("bob@example.com", "Your Guild digest: 3 new items (2026-W99)")
    quiet = Period(DigestFrequency.WEEKLY, "1999-W01", week.start - timedelta(days=700), week.start)
    assert await _runner(world).run(quiet) == 0
    assert await world.runs.done(quiet)
