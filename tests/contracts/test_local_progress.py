"""`make up` shows progress while it builds FerretDB the first time (deploy/local/lib.sh)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(command: str) -> subprocess.CompletedProcess[str]:
    script = f'source "{ROOT}/deploy/local/lib.sh"; {command}'
    return subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "GUILD_PROGRESS_SECONDS": "1"},
    )


def test_a_long_step_reports_progress_and_its_status() -> None:
    done = _run('run_with_progress "compiling" sleep 2.5')
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "[guild] compiling"
    assert any(line.startswith("[guild]   ... still compiling (") for line in lines[1:]), lines
    failed = _run('run_with_progress "failing" false; echo "status $?"')
    assert "status 1" in failed.stdout


def test_the_ferretdb_build_uses_it() -> None:
    script = (ROOT / "deploy" / "local" / "build-ferretdb.sh").read_text()
    assert 'run_with_progress "compiling ferretdb" go' in script
    assert "about 40 s to 2 min the first time" in script
