"""Run the real helm binary on the agentobs chart, offline, and pick objects from its output."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devenv import binaries

CHART = binaries.REPO / "charts" / "agentobs"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
RELEASE = "obs"
NAMESPACE = "agentobs-system"

# Values that every render needs unless a test is about them: the DSN Secret.
DATABASE = {"database": {"existingSecret": "agentobs-database", "secretKey": "dsn"}}


@dataclass
class Helm:
    """The helm binary with its state folders kept out of the user's home."""

    binary: Path
    env: dict[str, str]

    def run(
        self, *args: str, check: bool = True, input_values: Mapping[str, Any] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run helm with `input_values` as YAML on its standard input (for `--values -`)."""
        result = subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            env=self.env,
            input=yaml.safe_dump(dict(input_values or {})),
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
        return result

    def template(
        self, values: Mapping[str, Any] | None = None, *extra: str
    ) -> list[dict[str, Any]]:
        """Render the chart with `values` and return its objects, without empty documents."""
        output = self.run(
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            NAMESPACE,
            "--values",
            "-",
            *extra,
            input_values=values,
        ).stdout
        return [doc for doc in yaml.safe_load_all(output) if doc]

    def template_error(self, values: Mapping[str, Any]) -> str:
        """Render the chart with `values`, expect it to fail and return helm's error output."""
        result = self.run(
            "template", RELEASE, str(CHART), "--values", "-", input_values=values, check=False
        )
        assert result.returncode != 0, f"helm template accepted {values}"
        return result.stderr

    def notes(self, values: Mapping[str, Any]) -> str:
        """Return the NOTES.txt that `helm install` prints for `values`."""
        output = self.run(
            "install",
            RELEASE,
            str(CHART),
            "--namespace",
            NAMESPACE,
            "--dry-run=client",
            "--values",
            "-",
            input_values=values,
        ).stdout
        return output.split("\nNOTES:\n", 1)[1]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """Return the objects of one kind, keyed by name."""
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    """Return the only container of a Deployment or StatefulSet."""
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, [c["name"] for c in containers]
    return dict(containers[0])


def env_names(deployment: dict[str, Any]) -> list[str]:
    return [variable["name"] for variable in container(deployment)["env"]]
