"""A throwaway PostgreSQL cluster from the Debian server packages.

initdb refuses to run as root, so when the caller is root the cluster runs as
the `postgres` system user that the Debian package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devenv import processes

SUPERUSER = "agentobs"
DATABASE = "agentobs"


def server_bin_dir() -> Path:
    """Return the newest /usr/lib/postgresql/N/bin that contains initdb."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if not candidates:
        raise processes.ServiceError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql; "
            "run hack/install-system-deps.sh (apt-get install postgresql)"
        )
    return Path(candidates[-1]).parent


@dataclass
class PostgresServer:
    """One PostgreSQL cluster on 127.0.0.1, owned by the object that started it."""

    root: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    run_as: str | None = field(default=None)

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @classmethod
    def create(cls, parent: Path | None = None) -> PostgresServer:
        """Initialise a new cluster in a fresh temporary folder and start it."""
        root = Path(tempfile.mkdtemp(prefix="agentobs-pg-", dir=parent))
        server = cls(root=root, run_as="postgres" if os.geteuid() == 0 else None)
        server._initdb()
        server.start()
        server._create_database()
        return server

    def _initdb(self) -> None:
        if self.run_as is not None:
            account = pwd.getpwnam(self.run_as)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        argv = [
            str(server_bin_dir() / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ]
        if self.run_as is not None:
            argv = ["runuser", "-u", self.run_as, "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise processes.ServiceError(
                f"initdb failed with code {result.returncode}: {result.stderr.strip()}"
            )

    def start(self) -> None:
        """Start (or restart) the server on its port, keeping the data folder."""
        if self.port == 0:
            self.port = processes.free_port()
        argv = [
            str(server_bin_dir() / "postgres"),
            "-D",
            str(self.data_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-k",
            str(self.root),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=on",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=128MB",
        ]
        self.process = processes.start("postgres", argv, log=self.log, user=self.run_as)
        processes.wait_until(
            "postgres",
            self._accepts_connections,
            process=self.process,
            log=self.log,
            timeout=60,
        )

    def stop(self) -> None:
        """Stop the server with a fast shutdown; the data folder stays.

        SIGTERM would be a smart shutdown, which waits for every client to leave.
        runuser may exit before the postmaster, so this also waits until the
        postmaster has removed its pid file and a `start` right away succeeds.
        """
        if self.process is None:
            return
        processes.stop(self.process, signum=signal.SIGINT, timeout=30)
        self.process = None
        deadline = time.monotonic() + 30
        while self.data_dir.joinpath("postmaster.pid").exists():
            if time.monotonic() > deadline:
                raise processes.ServiceError(
                    f"postgres did not remove {self.data_dir}/postmaster.pid within 30 s"
                    f" of a fast shutdown; last lines of {self.log}:\n{processes.tail(self.log)}"
                )
            time.sleep(0.05)

    def destroy(self) -> None:
        """Stop the server and delete its folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _accepts_connections(self) -> bool:
        if not self.data_dir.joinpath("postmaster.pid").exists():
            return False
        result = subprocess.run(
            [
                str(server_bin_dir() / "pg_isready"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
            ],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def _create_database(self) -> None:
        result = subprocess.run(
            [
                str(server_bin_dir() / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                DATABASE,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise processes.ServiceError(f"createdb failed: {result.stderr.strip()}")
