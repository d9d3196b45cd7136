"""Fixtures of the chart tests: the real helm binary, with no cluster."""

from __future__ import annotations

import os

import pytest
from chart_helm import Helm

from devenv import binaries


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """helm with cache, config and data folders in a temporary folder and no cluster."""
    home = tmp_path_factory.mktemp("helm")
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": str(home / "no-cluster.kubeconfig"),
    }
    return Helm(binary=binaries.path_of("helm"), env=env)
