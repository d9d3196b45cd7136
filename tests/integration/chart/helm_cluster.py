"""Run the real helm binary against a local kube-apiserver and read back what it created."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devenv import binaries
from devenv.controlplane import ControlPlane

CHART = binaries.REPO / "charts" / "agentobs"

# The DSN Secret the chart reads when the trial Postgres is off.
DATABASE = {"database": {"existingSecret": "agentobs-database", "secretKey": "dsn"}}


@dataclass
class ClusterHelm:
    """helm and kubectl pointed at one control plane, with helm's state in a temporary folder."""

    binary: Path
    home: Path
    plane: ControlPlane

    def run(
        self, *args: str, values: Mapping[str, Any] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run helm with `values` as YAML on its standard input (for `--values -`)."""
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.home),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
            "KUBECONFIG": str(self.plane.kubeconfig),
        }
        result = subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            env=env,
            input=yaml.safe_dump(dict(values or {})),
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
        return result

    def install(
        self, release: str, namespace: str, values: Mapping[str, Any], chart: Path = CHART
    ) -> subprocess.CompletedProcess[str]:
        """Install without --wait: there is no kubelet, so no pod ever becomes ready."""
        return self.run(
            "install", release, str(chart), "--namespace", namespace, "--values", "-", values=values
        )

    def upgrade(
        self, release: str, namespace: str, values: Mapping[str, Any], chart: Path = CHART
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            "upgrade", release, str(chart), "--namespace", namespace, "--values", "-", values=values
        )

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        """Return one object as the API server stores it."""
        scope = ["--namespace", namespace] if namespace else []
        output = self.plane.kubectl("get", kind, name, *scope, "--output", "json")
        return dict(json.loads(output))

    def names(self, kind: str, namespace: str, release: str) -> list[str]:
        """Return the sorted names of the release's objects of one kind in `namespace`."""
        output = self.plane.kubectl(
            "get",
            kind,
            "--namespace",
            namespace,
            "--output",
            "json",
            "--selector",
            f"app.kubernetes.io/instance={release}",
        )
        return sorted(item["metadata"]["name"] for item in json.loads(output)["items"])
