"""The trial Postgres StatefulSet: off by default, restricted, and wired to agentobs."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

from chart_helm import DATABASE, NAMESPACE, RELEASE, Helm, by_kind, container

FULLNAME = f"{RELEASE}-agentobs"
POSTGRES = f"{FULLNAME}-postgresql"
TRIAL = {"postgresql": {"enabled": True}}


def decode(secret: dict[str, dict[str, str]], key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


def test_postgres_is_off_by_default(helm: Helm) -> None:
    objects = helm.template(DATABASE)

    assert by_kind(objects, "StatefulSet") == {}
    assert by_kind(objects, "Secret") == {}
    assert POSTGRES not in by_kind(objects, "Service")


def test_trial_postgres_renders_its_objects(helm: Helm) -> None:
    objects = helm.template(TRIAL)

    assert list(by_kind(objects, "StatefulSet")) == [POSTGRES]
    assert list(by_kind(objects, "Secret")) == [POSTGRES]
    service = by_kind(objects, "Service")[POSTGRES]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["ports"] == [
        {"name": "postgresql", "port": 5432, "targetPort": "postgresql", "protocol": "TCP"},
    ]


def test_agentobs_reads_the_generated_dsn(helm: Helm) -> None:
    objects = helm.template(TRIAL)
    secret = by_kind(objects, "Secret")[POSTGRES]
    deployment = by_kind(objects, "Deployment")[FULLNAME]
    database_url = next(
        v for v in container(deployment)["env"] if v["name"] == "AGENTOBS_DATABASE_URL"
    )

    assert database_url["valueFrom"] == {"secretKeyRef": {"name": POSTGRES, "key": "dsn"}}
    dsn = urlsplit(decode(secret, "dsn"))
    assert dsn.scheme == "postgresql"
    assert dsn.username == "agentobs"
    assert dsn.password == decode(secret, "password")
    assert dsn.hostname == f"{POSTGRES}.{NAMESPACE}.svc"
    assert dsn.port == 5432
    assert dsn.path == "/agentobs"


def test_generated_password_is_long_and_url_safe(helm: Helm) -> None:
    secret = by_kind(helm.template(TRIAL), "Secret")[POSTGRES]
    password = decode(secret, "password")

    assert len(password) == 32
    assert password.isalnum()


def test_secret_outlives_an_uninstall(helm: Helm) -> None:
    secret = by_kind(helm.template(TRIAL), "Secret")[POSTGRES]

    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_postgres_meets_restricted_pod_security(helm: Helm) -> None:
    statefulset = by_kind(helm.template(TRIAL), "StatefulSet")[POSTGRES]
    pod_spec = statefulset["spec"]["template"]["spec"]
    context = container(statefulset)["securityContext"]

    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert pod_spec["securityContext"]["runAsUser"] == 999
    assert pod_spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod_spec["automountServiceAccountToken"] is False
    assert context == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def test_postgres_keeps_data_in_a_claim(helm: Helm) -> None:
    statefulset = by_kind(helm.template(TRIAL), "StatefulSet")[POSTGRES]
    claims = statefulset["spec"]["volumeClaimTemplates"]
    env = {v["name"]: v.get("value") for v in container(statefulset)["env"]}

    assert [c["metadata"]["name"] for c in claims] == ["data"]
    assert claims[0]["spec"]["resources"] == {"requests": {"storage": "8Gi"}}
    assert env["PGDATA"] == "/var/lib/postgresql/data/pgdata"
    assert {"name": "data", "mountPath": "/var/lib/postgresql/data"} in (
        container(statefulset)["volumeMounts"]
    )


def test_postgres_without_persistence_uses_empty_dir(helm: Helm) -> None:
    values = {"postgresql": {"enabled": True, "persistence": {"enabled": False}}}
    statefulset = by_kind(helm.template(values), "StatefulSet")[POSTGRES]
    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}

    assert "volumeClaimTemplates" not in statefulset["spec"]
    assert volumes["data"] == {"name": "data", "emptyDir": {}}


def test_agentobs_selectors_skip_postgres(helm: Helm) -> None:
    objects = helm.template(TRIAL)
    postgres_labels = by_kind(objects, "StatefulSet")[POSTGRES]["spec"]["template"]["metadata"][
        "labels"
    ]
    selectors = [
        s["spec"]["selector"]
        for s in by_kind(objects, "Service").values()
        if s["metadata"]["name"] != POSTGRES
    ]
    selectors += [
        b["spec"]["selector"]["matchLabels"]
        for b in by_kind(objects, "PodDisruptionBudget").values()
    ]

    assert selectors
    for selector in selectors:
        assert not selector.items() <= postgres_labels.items(), selector
