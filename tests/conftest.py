"""Session fixtures that start the real local services the tiers run against.

A service that cannot start fails the test that needs it with the reason; no
tier skips because a service is missing.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest

from devenv.controlplane import ControlPlane
from devenv.postgres import SUPERUSER, PostgresServer, server_bin_dir


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole session, on a free 127.0.0.1 port."""
    server = PostgresServer.create()
    yield server
    server.destroy()


@pytest.fixture
def database_dsn(postgres_server: PostgresServer) -> str:
    """A DSN of a new, empty database, so each test starts from nothing."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    subprocess.run(
        [
            str(server_bin_dir() / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(postgres_server.port),
            "-U",
            SUPERUSER,
            name,
        ],
        check=True,
        capture_output=True,
    )
    return f"postgresql://{SUPERUSER}@127.0.0.1:{postgres_server.port}/{name}"


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """etcd and kube-apiserver for the whole session, with the CRD applied."""
    plane = ControlPlane.start()
    plane.apply_crd()
    yield plane
    plane.destroy()


@pytest.fixture
def namespace(control_plane: ControlPlane) -> str:
    """A new namespace per test; without a controller manager it is never deleted."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    control_plane.create_namespace(name)
    return name
