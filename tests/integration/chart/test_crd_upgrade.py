"""The documented CRD upgrade path: `kubectl apply --server-side --force-conflicts -f crds/`
before `helm upgrade`.

Helm installs the files in a chart's crds/ folder but never upgrades them. These tests
run on control planes of their own, so that Helm itself creates the CRD as it would
on a new cluster, and the session's CRD stays untouched for the other tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_cluster import CHART, DATABASE, ClusterHelm

from devenv import binaries
from devenv.controlplane import ControlPlane

pytestmark = pytest.mark.cluster

CRD_NAME = "agentobservations.agentobs.dev"


@pytest.fixture
def fresh_helm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterHelm]:
    """helm against a new control plane without the CRD, stopped after the test."""
    plane = ControlPlane.start(parent=tmp_path_factory.mktemp("fresh-plane"))
    try:
        yield ClusterHelm(
            binary=binaries.path_of("helm"), home=tmp_path_factory.mktemp("helm"), plane=plane
        )
    finally:
        plane.destroy()


def chart_with_team_field(folder: Path) -> Path:
    """Copy the chart and add an optional `spec.team` string to its CRD."""
    chart = folder / "agentobs"
    shutil.copytree(CHART, chart)
    crd_file = chart / "crds" / "agentobservations.yaml"
    crd = yaml.safe_load(crd_file.read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["team"] = {"type": "string", "description": "Team that owns the agent."}
    crd_file.write_text(yaml.safe_dump(crd, sort_keys=False))
    return chart


def create_with_team(plane: ControlPlane, namespace: str, name: str) -> str:
    """Create an AgentObservation with spec.team and return the API server's rejection, or "".

    kubectl requests strict field validation, so the API server rejects a field that the
    CRD schema does not contain rather than dropping it.
    """
    try:
        plane.kubectl(
            "create",
            "--filename",
            "-",
            input=json.dumps(
                {
                    "apiVersion": "agentobs.dev/v1alpha1",
                    "kind": "AgentObservation",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": {"agentRef": {"name": name}, "team": "research"},
                }
            ),
        )
    except subprocess.CalledProcessError as error:
        return str(error.stderr)
    return ""


def stored_team(plane: ControlPlane, namespace: str, name: str) -> Any:
    stored = json.loads(
        plane.kubectl("get", "agentobservation", name, "--namespace", namespace, "--output", "json")
    )
    return stored["spec"].get("team")


def create_when_served(plane: ControlPlane, namespace: str, name: str) -> str:
    """Retry create_with_team for up to 30 seconds.

    The API server serves a changed CRD schema a moment after the CRD is updated.
    """
    deadline = time.monotonic() + 30
    while True:
        rejection = create_with_team(plane, namespace, name)
        if not rejection or time.monotonic() > deadline:
            return rejection
        time.sleep(0.5)


def test_crd_upgrade_accepts_new_field(fresh_helm: ClusterHelm, tmp_path: Path) -> None:
    plane = fresh_helm.plane
    namespace = "crd-upgrade"
    plane.create_namespace(namespace)
    fresh_helm.install("obs", namespace, DATABASE)
    upgraded_chart = chart_with_team_field(tmp_path)

    # Helm created the CRD on install, and its schema has no spec.team.
    rejection = create_with_team(plane, namespace, "before-upgrade")
    assert 'unknown field "spec.team"' in rejection

    # helm upgrade alone leaves the CRD as it was.
    fresh_helm.upgrade("obs", namespace, DATABASE, chart=upgraded_chart)
    rejection = create_with_team(plane, namespace, "after-helm-upgrade")
    assert 'unknown field "spec.team"' in rejection

    # The documented step updates the CRD, and the release upgrades on top of it.
    plane.kubectl(
        "apply", "--server-side", "--force-conflicts", "--filename", str(upgraded_chart / "crds")
    )
    plane.kubectl("wait", "--for", "condition=Established", "--timeout", "60s", f"crd/{CRD_NAME}")
    fresh_helm.upgrade("obs", namespace, {**DATABASE, "mode": "split"}, chart=upgraded_chart)
    assert create_when_served(plane, namespace, "after-crd-apply") == ""
    assert stored_team(plane, namespace, "after-crd-apply") == "research"
    assert (
        plane.kubectl(
            "get",
            "deployment",
            "obs-agentobs-receiver",
            "--namespace",
            namespace,
            "--output",
            "name",
        )
        == "deployment.apps/obs-agentobs-receiver\n"
    )

    # helm install applies crds/ server-side too. A chart with an older CRD than the
    # cluster's would conflict with kubectl's fields, so it installs with --skip-crds
    # and the newer CRD stays.
    plane.create_namespace("second")
    conflict = fresh_helm.run(
        "install",
        "second",
        str(CHART),
        "--namespace",
        "second",
        "--values",
        "-",
        values=DATABASE,
        check=False,
    )
    assert 'conflict with "kubectl"' in conflict.stderr
    fresh_helm.run(
        "install",
        "second",
        str(CHART),
        "--namespace",
        "second",
        "--skip-crds",
        "--values",
        "-",
        values=DATABASE,
    )
    assert create_with_team(plane, "second", "in-second-release") == ""


def test_uninstall_keeps_crd_and_objects(fresh_helm: ClusterHelm) -> None:
    plane = fresh_helm.plane
    namespace = "crd-uninstall"
    plane.create_namespace(namespace)
    fresh_helm.install("kept", namespace, DATABASE)
    plane.apply(
        {
            "apiVersion": "agentobs.dev/v1alpha1",
            "kind": "AgentObservation",
            "metadata": {"name": "planner", "namespace": namespace},
            "spec": {},
        }
    )

    fresh_helm.run("uninstall", "kept", "--namespace", namespace)

    assert plane.kubectl("get", "crd", CRD_NAME, "--output", "name") == (
        f"customresourcedefinition.apiextensions.k8s.io/{CRD_NAME}\n"
    )
    assert (
        plane.kubectl("get", "ao", "planner", "--namespace", namespace, "--output", "name")
        == "agentobservation.agentobs.dev/planner\n"
    )
    assert (
        plane.kubectl(
            "get", "deployment", "kept-agentobs", "--namespace", namespace, "--ignore-not-found"
        )
        == ""
    )
