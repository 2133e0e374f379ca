"""FerretDB and NATS servers for tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from guild_testing.processes import ManagedProcess, free_port, wait_for_port

REPO_ROOT = Path(__file__).resolve().parents[4]


def ferretdb_binary() -> Path:
    override = os.environ.get("FERRETDB_BIN")
    path = Path(override) if override else REPO_ROOT / "deploy" / "local" / "bin" / "ferretdb"
    if not path.exists():
        subprocess.run(["bash", str(REPO_ROOT / "deploy" / "local" / "build-ferretdb.sh")], check=True)
    return path


def ferretdb_supports_flag(flag: str) -> bool:
    """Whether the FerretDB binary lists ``flag`` (e.g. ``-log-level``) in its ``-help`` output."""
    result = subprocess.run(
        [str(ferretdb_binary()), "-help"], capture_output=True, text=True, timeout=30, check=False
    )
    name = flag.lstrip("-")
    return any(line.split()[:1] == [f"-{name}"] for line in (result.stdout + result.stderr).splitlines())


def nats_binary() -> str:
    override = os.environ.get("NATS_SERVER_BIN")
    if override:
        return override
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


@dataclass
class NatsServer:
    data_dir: Path
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart on the same port and data, to test outages)."""
        self.process = ManagedProcess.start(
            "nats",
            [nats_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.data_dir)],
            log_path=self.log_dir / "nats.log",
        )
        wait_for_port(self.port, timeout=20, process=self.process.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@dataclass
class FerretServer:
    data_dir: Path
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: ManagedProcess | None = None
    binary: Path | None = None  # default: the project's build
    extra_args: Sequence[str] = ()
    env: Mapping[str, str] | None = None
    """The whole environment of the process; ``None`` inherits this one."""

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> None:
        self.process = ManagedProcess.start(
            "ferretdb",
            [
                str(self.binary or ferretdb_binary()),
                "-listen",
                f"127.0.0.1:{self.port}",
                "-data-dir",
                str(self.data_dir),
                *self.extra_args,
            ],
            log_path=self.log_dir / "ferretdb.log",
            env=self.env,
        )
        wait_for_port(self.port, timeout=30, process=self.process.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
