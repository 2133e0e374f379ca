"""The generated code is a package other Python systems install: ``guild-proto``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _uv() -> list[str] | None:
    if shutil.which("uv"):
        return ["uv"]
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True)
    return [sys.executable, "-m", "uv"] if probe.returncode == 0 else None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = _uv()
    if uv is None:
        pytest.skip("uv is needed to build the wheel")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [*uv, "build", "--wheel", str(ROOT / "libs" / "proto"), "-o", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("guild_proto-*.whl")
    return built


def test_wheel_holds_the_apis_and_event_payloads(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
    assert metadata["Name"] == "guild-proto"
    requires = " ".join(metadata.get_all("Requires-Dist") or [])
    assert "protobuf" in requires
    assert "grpcio" in requires
    for expected in (
        "guild/py.typed",
        "guild/descriptors.binpb",
        "guild/community/v1/community_service_pb2_grpc.py",
        "guild/community/v1/community_service_pb2.pyi",
        "guild/events/v1/content_events_pb2.py",
        "guild/events/v1/reputation_events_pb2.py",
    ):
        assert expected in names


def test_wheel_imports_on_its_own(wheel: Path) -> None:
    """With only the wheel (and protobuf, grpcio) on the path, stubs and payloads import from it."""
    code = (
        "import guild, guild.community.v1.community_service_pb2_grpc as rpc, "
        "guild.events.v1.content_events_pb2 as ev; "
        "assert '.whl' in guild.__file__, guild.__file__; "
        "assert hasattr(rpc, 'CommunityServiceStub'); "
        "print(ev.AnswerAccepted.DESCRIPTOR.full_name)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(wheel), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "guild.events.v1.AnswerAccepted"
