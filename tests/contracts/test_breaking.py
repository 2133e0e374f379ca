"""``tools/contracts/breaking.sh`` fails on a change that breaks callers and passes a compatible one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "contracts" / "breaking.sh"
EVENTS = Path("protos/guild/events/v1/content_events.proto")

pytestmark = pytest.mark.skipif(
    not (ROOT / "node_modules" / ".bin" / "buf").exists(), reason="buf is installed by `make sync`"
)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose only commit holds protos/buf.yaml and the event protos of this one.

    The event protos import only well-known types, so the copy builds whatever state the service
    protos are in.
    """
    (tmp_path / "protos").mkdir()
    shutil.copy(ROOT / "protos" / "buf.yaml", tmp_path / "protos" / "buf.yaml")
    shutil.copytree(ROOT / "protos" / "guild" / "events", tmp_path / "protos" / "guild" / "events")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "protos")
    git(
        tmp_path,
        "-c",
        "user.name=guild",
        "-c",
        "user.email=guild@example.invalid",
        "commit",
        "-q",
        "-m",
        "protos",
    )
    return tmp_path


def breaking(repo: Path, against: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BUF_BREAKING_AGAINST"}
    if against is not None:
        env["BUF_BREAKING_AGAINST"] = against
    return subprocess.run(
        ["bash", str(SCRIPT), str(repo)], capture_output=True, text=True, env=env, timeout=120
    )


def edit(repo: Path, pattern: str, replacement: str) -> None:
    path = repo / EVENTS
    text = path.read_text()
    changed, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert count == 1, f"{pattern!r} not found in {EVENTS}"
    path.write_text(changed)


def test_unchanged_protos_pass(repo: Path) -> None:
    result = breaking(repo)
    assert result.returncode == 0, result.stdout + result.stderr


def test_deleting_an_event_field_fails(repo: Path) -> None:
    edit(repo, r"^  string question_title = 7;\n", "")
    result = breaking(repo)
    assert result.returncode != 0
    assert "AnswerAccepted" in result.stdout + result.stderr
    assert "question_title" in result.stdout + result.stderr


def test_renumbering_an_event_field_fails(repo: Path) -> None:
    edit(repo, r"^  string answer_author_id = 4;", "  string answer_author_id = 40;")
    result = breaking(repo)
    assert result.returncode != 0, result.stdout
    assert "AnswerAccepted" in result.stdout + result.stderr


def test_adding_a_field_passes(repo: Path) -> None:
    edit(repo, r"^(message AnswerAccepted \{\n)", r"\1  string accepted_note = 99;\n")
    result = breaking(repo)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_explicit_base_is_compared_with(repo: Path) -> None:
    """Once the breaking change is committed, HEAD passes but the commit before it still fails."""
    base = git(repo, "rev-parse", "HEAD")
    edit(repo, r"^  string question_title = 7;\n", "")
    git(repo, "-c", "user.name=g", "-c", "user.email=g@example.invalid", "commit", "-qam", "drop a field")
    assert breaking(repo).returncode == 0
    assert breaking(repo, against=base).returncode != 0
