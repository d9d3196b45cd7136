"""Locates the control-plane binaries that hack/build-controlplane.sh caches."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

from devenv import processes

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "hack" / "build-controlplane.sh"


@functools.cache
def bin_dir() -> Path:
    """Return the cache folder of the binaries, building missing ones first."""
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ},
    )
    if result.returncode != 0:
        raise processes.ServiceError(
            f"{BUILD_SCRIPT.name} failed with code {result.returncode}:\n"
            f"{result.stderr.strip()[-4000:]}"
        )
    return Path(result.stdout.strip().splitlines()[-1])


def path_of(name: str) -> Path:
    """Return the cached binary `name` (kube-apiserver, kubectl, etcd or helm)."""
    binary = bin_dir() / name
    if not binary.exists():
        raise processes.ServiceError(f"{name} is missing from {binary.parent} after the build")
    return binary
