"""Fixtures of the chart integration tests: real helm against the local kube-apiserver."""

from __future__ import annotations

import pytest
from helm_cluster import ClusterHelm

from devenv import binaries
from devenv.controlplane import ControlPlane


@pytest.fixture(scope="session")
def cluster_helm(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> ClusterHelm:
    """helm for the session's control plane, on which the CRD is already applied."""
    return ClusterHelm(
        binary=binaries.path_of("helm"), home=tmp_path_factory.mktemp("helm"), plane=control_plane
    )


@pytest.fixture
def release(namespace: str) -> str:
    """A release name per test. Cluster-scoped objects carry it, so names never collide."""
    return f"obs-{namespace.removeprefix('t-')}"
