"""`helm install` of the agentobs chart into a real kube-apiserver.

There is no kubelet, scheduler or controller manager, so pods never run. The tests
check the objects the API server accepted and what they allow, never readiness.
"""

from __future__ import annotations

import base64
import json
import subprocess
from typing import Any

import pytest
from helm_cluster import CHART, DATABASE, ClusterHelm

from devenv.controlplane import ControlPlane

pytestmark = pytest.mark.cluster


def create_database_secret(plane: ControlPlane, namespace: str) -> None:
    plane.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "agentobs-database", "namespace": namespace},
            "stringData": {"dsn": "postgresql://agentobs@db.example.internal:5432/agentobs"},
        }
    )


def pod_from(workload: dict[str, Any], name: str) -> dict[str, Any]:
    """Build a Pod from the pod template of a Deployment or StatefulSet."""
    template = workload["spec"]["template"]
    spec = template["spec"]
    # A Pod has no claim templates: stand in an emptyDir for each claimed volume.
    for claim in workload["spec"].get("volumeClaimTemplates", []):
        spec.setdefault("volumes", []).append({"name": claim["metadata"]["name"], "emptyDir": {}})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": workload["metadata"]["namespace"],
            "labels": template["metadata"]["labels"],
        },
        "spec": spec,
    }


def can_i(
    plane: ControlPlane, user: str, verb: str, resource: str, namespace: str | None = None
) -> bool:
    scope = ["--namespace", namespace] if namespace else ["--all-namespaces"]
    resource, _, subresource = resource.partition("/")
    if subresource:
        scope.append(f"--subresource={subresource}")
    result = plane.kubectl("auth", "can-i", verb, resource, "--as", user, *scope, check=False)
    return result.strip() == "yes"


def test_all_in_one_install_creates_objects(
    cluster_helm: ClusterHelm,
    namespace: str,
    release: str,
) -> None:
    create_database_secret(cluster_helm.plane, namespace)
    cluster_helm.install(release, namespace, DATABASE)
    fullname = f"{release}-agentobs"

    assert cluster_helm.names("deployments", namespace, release) == [fullname]
    assert cluster_helm.names("services", namespace, release) == [fullname, f"{fullname}-metrics"]
    assert cluster_helm.names("serviceaccounts", namespace, release) == [fullname]
    assert cluster_helm.names("poddisruptionbudgets", namespace, release) == [
        f"{fullname}-all-in-one",
    ]
    assert cluster_helm.names("statefulsets", namespace, release) == []
    role = cluster_helm.get("clusterrole", fullname)
    binding = cluster_helm.get("clusterrolebinding", fullname)
    assert role["metadata"]["labels"]["app.kubernetes.io/instance"] == release
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": fullname, "namespace": namespace},
    ]
    deployment = cluster_helm.get("deployment", fullname, namespace)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == ["run"]


def test_split_install_creates_both_deployments(
    cluster_helm: ClusterHelm,
    namespace: str,
    release: str,
) -> None:
    create_database_secret(cluster_helm.plane, namespace)
    cluster_helm.install(
        release, namespace, {**DATABASE, "mode": "split", "receiver": {"replicas": 3}}
    )
    fullname = f"{release}-agentobs"

    assert cluster_helm.names("deployments", namespace, release) == [
        f"{fullname}-operator",
        f"{fullname}-receiver",
    ]
    receiver = cluster_helm.get("deployment", f"{fullname}-receiver", namespace)
    operator = cluster_helm.get("deployment", f"{fullname}-operator", namespace)
    assert receiver["spec"]["replicas"] == 3
    assert operator["spec"]["replicas"] == 2
    assert cluster_helm.names("poddisruptionbudgets", namespace, release) == [
        f"{fullname}-operator",
        f"{fullname}-receiver",
    ]
    service = cluster_helm.get("service", fullname, namespace)
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "receiver"


def test_service_account_access_is_minimal(
    cluster_helm: ClusterHelm,
    namespace: str,
    release: str,
) -> None:
    """The API server's authorizer allows what the service needs and denies the rest."""
    create_database_secret(cluster_helm.plane, namespace)
    cluster_helm.install(release, namespace, DATABASE)
    plane = cluster_helm.plane
    user = f"system:serviceaccount:{namespace}:{release}-agentobs"

    allowed = [
        ("watch", "agentobservations.agentobs.dev"),
        ("patch", "agentobservations.agentobs.dev/status"),
        ("create", "tokenreviews.authentication.k8s.io"),
        ("create", "subjectaccessreviews.authorization.k8s.io"),
        ("create", "events"),
        ("list", "customresourcedefinitions.apiextensions.k8s.io"),
    ]
    denied = [
        ("get", "secrets"),
        ("watch", "namespaces"),
        ("update", "agentobservations.agentobs.dev/status"),
        ("list", "pods"),
        ("patch", "agentobservations.agentobs.dev"),
        ("delete", "agentobservations.agentobs.dev"),
        ("create", "leases.coordination.k8s.io"),
        ("create", "clusterkopfpeerings.kopf.dev"),
        ("update", "customresourcedefinitions.apiextensions.k8s.io"),
    ]
    for verb, resource in allowed:
        assert can_i(plane, user, verb, resource), f"{verb} {resource} is denied"
    for verb, resource in denied:
        assert not can_i(plane, user, verb, resource), f"{verb} {resource} is allowed"


@pytest.mark.parametrize("mode", ["allInOne", "split"])
def test_pods_pass_restricted_admission(
    cluster_helm: ClusterHelm,
    namespace: str,
    release: str,
    mode: str,
) -> None:
    """Pods built from the templates pass the API server's PodSecurity admission."""
    plane = cluster_helm.plane
    plane.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    # The trial Postgres runs as the namespace's default ServiceAccount, which a
    # controller manager would create.
    plane.create_service_account(namespace, "default")
    create_database_secret(plane, namespace)
    cluster_helm.install(
        release, namespace, {**DATABASE, "mode": mode, "postgresql": {"enabled": True}}
    )
    workloads = [
        ("deployment", name) for name in cluster_helm.names("deployments", namespace, release)
    ]
    workloads += [
        ("statefulset", name) for name in cluster_helm.names("statefulsets", namespace, release)
    ]

    assert len(workloads) == (3 if mode == "split" else 2)
    for kind, name in workloads:
        pod = pod_from(cluster_helm.get(kind, name, namespace), f"{name}-check")
        try:
            plane.kubectl("create", "--dry-run=server", "--filename", "-", input=json.dumps(pod))
        except subprocess.CalledProcessError as error:
            pytest.fail(f"the API server rejected a pod of {kind}/{name}: {error.stderr}")


def test_trial_password_survives_upgrade(
    cluster_helm: ClusterHelm,
    namespace: str,
    release: str,
) -> None:
    values = {"postgresql": {"enabled": True}}
    secret_name = f"{release}-agentobs-postgresql"
    cluster_helm.install(release, namespace, values)
    before = cluster_helm.get("secret", secret_name, namespace)["data"]

    cluster_helm.upgrade(release, namespace, {**values, "config": {"logLevel": "debug"}})
    after = cluster_helm.get("secret", secret_name, namespace)["data"]

    assert after == before
    assert len(base64.b64decode(after["password"])) == 32
    assert cluster_helm.names("statefulsets", namespace, release) == [secret_name]
    deployment = cluster_helm.get("deployment", f"{release}-agentobs", namespace)
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "AGENTOBS_LOG_LEVEL", "value": "debug"} in env


def test_install_without_database_fails(
    cluster_helm: ClusterHelm,
    namespace: str,
    release: str,
) -> None:
    result = cluster_helm.run("install", release, str(CHART), "--namespace", namespace, check=False)

    assert result.returncode != 0
    assert "database.existingSecret is empty" in result.stderr
    assert cluster_helm.names("deployments", namespace, release) == []
    assert (
        cluster_helm.plane.kubectl(
            "get", "clusterrole", f"{release}-agentobs", "--ignore-not-found"
        )
        == ""
    )
