"""The events catalog and AsyncAPI document are generated from the protos and the handler tables."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from guild.events.v1 import community_events_pb2, content_events_pb2, reputation_events_pb2

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "contracts" / "events_catalog.py"


@pytest.fixture(scope="module")
def catalog() -> ModuleType:
    spec = importlib.util.spec_from_file_location("events_catalog", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_committed_documents_are_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(TOOL), "--check"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_check_fails_on_a_stale_document(catalog: Any, tmp_path: Path) -> None:
    target = tmp_path / "events.md"
    target.write_text("old")
    assert catalog.stale({target: "new"}) == [target]
    target.write_text("new")
    assert catalog.stale({target: "new"}) == []


def test_every_event_message_is_catalogued_with_its_fields(catalog: Any) -> None:
    events = {e.message: e for e in catalog.load_events()}
    for module in (community_events_pb2, content_events_pb2, reputation_events_pb2):
        for descriptor in module.DESCRIPTOR.message_types_by_name.values():
            event = events[descriptor.full_name]
            assert [f.name for f in event.fields] == [f.name for f in descriptor.fields]
    markdown = catalog.render_markdown(list(events.values()))
    accepted = events["guild.events.v1.AnswerAccepted"]
    assert accepted.type == "guild.content.answer_accepted.v1"
    assert accepted.subject == "guild.<region>.<programme>.content.answer_accepted"
    assert accepted.stream == "GUILD_CONTENT"
    assert {"reputation", "notify"} <= set(accepted.consumers)
    assert "| 6 | `accepted_by` | `string` | Who accepted: the asker, or a moderator. |" in markdown
    assert "`reputation_GUILD_CONTENT`" in markdown
    asked = events["guild.events.v1.QuestionAsked"]
    assert any(f.name == "tags" and f.type == "repeated string" for f in asked.fields)
    assert "## Version policy" in markdown


def _copy_sources(tmp_path: Path) -> tuple[Path, Path]:
    protos = tmp_path / "protos" / "guild" / "events" / "v1"
    shutil.copytree(ROOT / "protos" / "guild" / "events" / "v1", protos)
    services = tmp_path / "services"
    for name in ("content", "reputation"):
        (services / name / "src").mkdir(parents=True)
    return protos, services


def test_consumers_follow_the_handler_tables(catalog: Any, tmp_path: Path) -> None:
    protos, services = _copy_sources(tmp_path)
    (services / "reputation" / "src" / "handlers.py").write_text(
        'HANDLERS = {\n    "guild.content.answer_posted.v1": None,\n}\n'
        '# a mention that is not a handler: "guild.content.vote_changed.v1"\n'
    )
    events = {e.type: e for e in catalog.load_events(protos, services)}
    assert events["guild.content.answer_posted.v1"].consumers == ("reputation",)
    assert events["guild.content.vote_changed.v1"].consumers == ()
    assert events["guild.content.answer_posted.v1"].published is False
    (services / "content" / "src" / "events.py").write_text('NAME = "answer_posted"\n')
    events = {e.type: e for e in catalog.load_events(protos, services)}
    assert events["guild.content.answer_posted.v1"].published is True


def test_a_handler_for_an_undeclared_type_is_an_error(catalog: Any, tmp_path: Path) -> None:
    protos, services = _copy_sources(tmp_path)
    (services / "reputation" / "src" / "handlers.py").write_text(
        'H = {"guild.content.answer_posted.v9": 1}\n'
    )
    with pytest.raises(catalog.CatalogError, match=r"answer_posted\.v9"):
        catalog.load_events(protos, services)


def test_an_event_message_without_its_type_comment_is_an_error(catalog: Any, tmp_path: Path) -> None:
    protos, services = _copy_sources(tmp_path)
    proto = protos / "content_events.proto"
    proto.write_text(proto.read_text().replace("// type guild.content.question_asked.v1\n", ""))
    with pytest.raises(catalog.CatalogError, match="QuestionAsked"):
        catalog.load_events(protos, services)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_asyncapi_document_describes_every_event(catalog: Any) -> None:
    yaml: Any = importlib.import_module("yaml")
    events = catalog.load_events()
    document = yaml.safe_load(catalog.render_asyncapi(events))
    assert document == catalog.build_asyncapi(events)  # the YAML says what was meant
    assert document["asyncapi"] == "3.0.0"
    addresses = {c["address"] for c in document["channels"].values()}
    assert {f"guild.{{region}}.{{programme}}.{e.producer}.{e.name}" for e in events} == addresses
    for channel in document["channels"].values():
        assert set(channel["parameters"]) == {"region", "programme"}
    for ref in _refs(document):
        if ref.startswith("#/"):
            _resolve(document, ref)  # raises KeyError if dangling
    names = {m["name"] for m in document["components"]["messages"].values()}
    assert names == {e.type for e in events}
    for message in document["components"]["messages"].values():
        assert message["headers"] == {"$ref": "#/components/schemas/CloudEventsHeaders"}
        assert message["payload"]["schemaFormat"].startswith("application/vnd.google.protobuf")
    assert all(op["action"] == "send" for op in document["operations"].values())
    assert len(document["operations"]) == len(events)


@pytest.mark.parametrize(
    ("comment", "description"),
    [
        ("type guild.content.answer_posted.v1", None),
        ("type guild.content.answer_posted.v1: an answer was posted.", "an answer was posted."),
        ("type guild.content.answer_posted.v1. An answer was posted.", "An answer was posted."),
    ],
)
def test_type_comment_forms(catalog: Any, comment: str, description: str | None) -> None:
    match = catalog.TYPE_PATTERN.match(comment)
    assert match is not None
    assert match.groups() == ("guild.content.answer_posted.v1", "content", "answer_posted", "1", description)
    assert catalog.TYPE_PATTERN.match("type guild.content.answer_posted") is None
