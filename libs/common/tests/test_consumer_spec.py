"""Durable consumer names keep deployment slices apart."""

from __future__ import annotations

from guild_common.events.consumer import ConsumerSpec


def test_a_deployment_taking_everything_keeps_the_plain_name() -> None:
    spec = ConsumerSpec(name="content", source_service="community", handlers={})
    assert spec.durable == "content_GUILD_COMMUNITY"
    assert spec.filter_subject == "guild.*.*.community.>"


def test_slices_get_their_own_durable_names_and_subjects() -> None:
    emea = ConsumerSpec(name="notify", source_service="content", handlers={}, region="emea")
    cpd = ConsumerSpec(name="notify", source_service="content", handlers={}, programme="healthcare_cpd")
    assert emea.durable == "notify_emea_all_GUILD_CONTENT"
    assert cpd.durable == "notify_all_healthcare_cpd_GUILD_CONTENT"
    assert emea.filter_subject == "guild.emea.*.content.>"
    assert cpd.filter_subject == "guild.*.healthcare_cpd.content.>"


def test_slices_also_read_events_about_people_and_the_whole_deployment_reads_one_subject() -> None:
    everything = ConsumerSpec(name="content", source_service="community", handlers={})
    emea = ConsumerSpec(name="notify", source_service="community", handlers={}, region="emea")
    assert everything.filter_subjects == ["guild.*.*.community.>"]
    assert emea.filter_subjects == ["guild.emea.*.community.>", "guild.global.global.community.>"]
