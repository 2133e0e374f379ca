"""Preferences on in-memory ports: defaults, masked updates (the member's own only), validation, and
unsubscribe links whose token is the only authority."""

from __future__ import annotations

import pytest
from services.notify.tests.app_world import World, who

from guild_common.errors import InvalidArgument
from guild_notify.app.preferences import PreferencesChange
from guild_notify.app.unsubscribe import DIGEST
from guild_notify.domain.notifications import NotificationType
from guild_notify.domain.preferences import MAX_MUTED, Channels, DigestFrequency


@pytest.fixture
def world() -> World:
    return World()


async def test_defaults_until_changed_and_only_the_fields_of_the_change(world: World) -> None:
    prefs = await world.prefs_uc.get(who("ann"))
    assert (prefs.member_id, prefs.digest_frequency, prefs.email_address) == (
        "ann",
        DigestFrequency.WEEKLY,
        "",
    )
    assert prefs.channels_for(NotificationType.NEW_ANSWER) == Channels(in_app=True, email=False)
    assert prefs.channels_for(NotificationType.ANSWER_ACCEPTED) == Channels(in_app=True, email=True)
    updated = await world.prefs_uc.update(
        who("ann"),
        PreferencesChange(
            channels={NotificationType.NEW_ANSWER: Channels(in_app=False, email=True)},
            muted_community_ids=["c2"],
            digest_frequency=DigestFrequency.DAILY,
        ),
    )
    assert updated.channels_for(NotificationType.NEW_ANSWER) == Channels(in_app=False, email=True)
    assert updated.channels_for(NotificationType.ANSWER_ACCEPTED) == Channels(in_app=True, email=True)
    assert (updated.muted_community_ids, updated.digest_frequency) == (
        frozenset({"c2"}),
        DigestFrequency.DAILY,
    )
    assert updated.email_address == ""  # not part of the change
    # A later change keeps what earlier ones set.
    again = await world.prefs_uc.update(
        who("ann"), PreferencesChange(email_address="ann@example.com", learning_records_opt_out=True)
    )
    assert again == await world.prefs_uc.get(who("ann"))
    assert (again.digest_frequency, again.learning_records_opt_out) == (DigestFrequency.DAILY, True)
    assert again.channels_for(NotificationType.NEW_ANSWER) == Channels(in_app=False, email=True)
    assert (await world.prefs_uc.get(who("bob"))).digest_frequency is DigestFrequency.WEEKLY


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (
            PreferencesChange(email_address="not-an-address"),
            "preferences.email_address",
            "not an email address",
        ),
        (
            PreferencesChange(muted_community_ids=[f"c{i}" for i in range(MAX_MUTED + 1)]),
            "preferences.muted_community_ids",
            f"at most {MAX_MUTED} communities",
        ),
        (PreferencesChange(muted_community_ids=["c1", ""]), "preferences.muted_community_ids", "empty id"),
    ],
)
async def test_invalid_changes_are_refused_and_change_nothing(
    world: World, change: PreferencesChange, field: str, problem: str
) -> None:
    before = await world.prefs_uc.update(who("ann"), PreferencesChange(digest_frequency=DigestFrequency.OFF))
    with pytest.raises(InvalidArgument) as caught:
        await world.prefs_uc.update(who("ann"), change)
    assert [(v.field, v.description) for v in caught.value.violations] == [(field, problem)]
    assert await world.prefs_uc.get(who("ann")) == before


async def test_an_empty_address_clears_it(world: World) -> None:
    await world.prefs_uc.update(who("ann"), PreferencesChange(email_address="ann@example.com"))
    cleared = await world.prefs_uc.update(who("ann"), PreferencesChange(email_address=""))
    assert cleared.email_address == ""


async def test_an_unsubscribe_token_turns_off_the_email_it_was_issued_for(world: World) -> None:
    await world.prefs_uc.update(who("ann"), PreferencesChange(email_address="ann@example.com"))
    turned_off = await world.prefs_uc.unsubscribe(world.tokens.issue("ann", NotificationType.ROLE_GRANTED))
    assert turned_off.member_id == "ann"
    assert turned_off.channels_for(NotificationType.ROLE_GRANTED) == Channels(in_app=True, email=False)
    assert turned_off.channels_for(NotificationType.ANSWER_ACCEPTED).email  # only that type
    assert turned_off.digest_frequency is DigestFrequency.WEEKLY
    digest_off = await world.prefs_uc.unsubscribe(world.tokens.issue("ann", DIGEST))
    assert digest_off.digest_frequency is DigestFrequency.OFF
    assert (await world.prefs_uc.get(who("bob"))).digest_frequency is DigestFrequency.WEEKLY


@pytest.mark.parametrize("token", ["", "garbage", "YW5u.c2ln", "YW5uCmRpZ2VzdA.AAAA"])
async def test_a_forged_unsubscribe_token_is_invalid(world: World, token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await world.prefs_uc.unsubscribe(token)
    assert [v.field for v in caught.value.violations] == ["token"]
    assert world.preferences.stored == {}


async def test_a_token_of_another_deployment_is_invalid(world: World) -> None:
    other = World(tokens=type(world.tokens)("another-secret"))
    with pytest.raises(InvalidArgument):
        await world.prefs_uc.unsubscribe(other.tokens.issue("ann", DIGEST))
