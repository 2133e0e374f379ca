"""tools/k8s/validate.sh passes the committed manifests and fails a broken overlay."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tree(tmp_path: Path) -> Path:
    """A copy of the manifests and the script, using this checkout's tools."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "deploy" / "k8s", copy / "deploy" / "k8s")
    shutil.copytree(ROOT / "tools" / "k8s", copy / "tools" / "k8s")
    (copy / "node_modules").symlink_to(ROOT / "node_modules")
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


def _validate(repo: Path, target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(repo / "tools" / "k8s" / "validate.sh"), target],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_committed_overlay_is_valid(tmp_path: Path) -> None:
    result = _validate(_tree(tmp_path), "overlays/healthcare-cpd")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: thirty"),
        ("          livenessProbe:", "          livenessProbez:"),
    ],
    ids=["wrong-type", "unknown-field"],
)
def test_a_broken_manifest_fails(tmp_path: Path, old: str, new: str) -> None:
    repo = _tree(tmp_path)
    deployment = repo / "deploy" / "k8s" / "base" / "notify" / "deployment.yaml"
    text = deployment.read_text()
    assert old in text
    deployment.write_text(text.replace(old, new, 1))
    result = _validate(repo, "overlays/healthcare-cpd")
    assert result.returncode != 0, result.stdout
