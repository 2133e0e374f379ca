"""The four services keep the layout docs/architecture.md describes ("One layout for every service")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["community", "content", "reputation", "notify"]
# Lines a module may have before its docstring must say why it is longer.
LONG_MODULE = 400
# What an adapter module is named after: the aggregate it stores (its documents, its guarded writes, its
# data migrations), the peer it calls, the background job it runs or the local model it loads.
ADAPTER_ROLES = "store|documents|writes|migrations|client|worker|model"
ADAPTER_NAME = re.compile(rf"^(__init__|outbound_events|[a-z_]+_({ADAPTER_ROLES}))\.py$")
GENERATED = re.compile(r"^(guild\.[a-z_.]+_pb2(_grpc)?|google\.protobuf(\..*)?)$")
DOMAIN_FORBIDDEN = re.compile(r"^(grpc|nats|pymongo|google\.protobuf|guild\.)")


def _package(service: str) -> Path:
    return ROOT / "services" / service / "src" / f"guild_{service}"


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _modules(service: str, layer: str) -> list[Path]:
    return sorted((_package(service) / layer).rglob("*.py"))


@pytest.mark.parametrize("service", SERVICES)
def test_app_and_domain_never_import_generated_protobuf(service: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for layer in ("app", "domain")
        for path in _modules(service, layer)
        for name in _imports(path)
        if GENERATED.match(name)
    ]
    assert offenders == []


@pytest.mark.parametrize("service", SERVICES)
def test_domain_does_no_io(service: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules(service, "domain")
        for name in _imports(path)
        if DOMAIN_FORBIDDEN.match(name)
    ]
    assert offenders == []


@pytest.mark.parametrize("service", SERVICES)
def test_the_file_roles_are_where_the_layout_puts_them(service: str) -> None:
    package = _package(service)
    assert (package / "app" / "ports.py").is_file() or (package / "app" / "ports").is_dir()
    assert (package / "bootstrap.py").is_file()
    assert (package / "entrypoints" / "event_decoders.py").is_file()
    assert (package / "domain" / "integration_events.py").is_file()
    for proto in sorted((ROOT / "protos" / "guild" / service / "v1").glob("*.proto")):
        if re.search(r"^service ", proto.read_text(), re.MULTILINE):
            assert (package / "entrypoints" / "grpc" / f"{proto.stem}.py").is_file(), proto.name
    misnamed = [p.name for p in sorted((package / "adapters").glob("*.py")) if not ADAPTER_NAME.match(p.name)]
    assert misnamed == []


@pytest.mark.parametrize("service", SERVICES)
def test_stores_declare_their_schema_and_bootstrap_collects_it(service: str) -> None:
    package = _package(service)
    stores = sorted((package / "adapters").glob("*_store.py"))
    writers = [p for p in stores if "outbox_fields" in p.read_text() or "outbox_update" in p.read_text()]
    undeclared = [p.name for p in writers if not re.search(r"^SCHEMA = StoreSchema\(", p.read_text(), re.M)]
    assert undeclared == []
    assert "collect_schema(" in (package / "bootstrap.py").read_text()


@pytest.mark.parametrize("service", SERVICES)
def test_a_long_module_says_why_in_its_docstring(service: str) -> None:
    unexplained = []
    for path in sorted(_package(service).rglob("*.py")):
        source = path.read_text()
        if source.count("\n") <= LONG_MODULE:
            continue
        docstring = ast.get_docstring(ast.parse(source)) or ""
        if "long" not in docstring.lower() and "lines" not in docstring.lower():
            unexplained.append(str(path.relative_to(ROOT)))
    assert unexplained == []
