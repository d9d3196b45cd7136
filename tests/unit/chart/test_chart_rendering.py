"""`helm template` of the agentobs chart: the objects each mode renders and their key fields."""

from __future__ import annotations

from typing import Any

import pytest
from chart_helm import DATABASE, NAMESPACE, RELEASE, Helm, by_kind, container, env_names

FULLNAME = f"{RELEASE}-agentobs"
IMAGE = "ghcr.io/agentobs/agentobs:0.1.0"

# Every setting the service reads, in the order the chart sets them.
SETTINGS = [
    "AGENTOBS_DATABASE_URL",
    "AGENTOBS_PORT",
    "AGENTOBS_LISTEN_HOST",
    "AGENTOBS_TOKEN_AUDIENCE",
    "AGENTOBS_ALLOW_UNAUTHENTICATED",
    "AGENTOBS_STATUS_INTERVAL",
    "AGENTOBS_STATUS_QPS",
    "AGENTOBS_STATUS_BURST",
    "AGENTOBS_RESYNC_INTERVAL",
    "AGENTOBS_STALE_AFTER",
    "AGENTOBS_STATUS_MAX_MODELS",
    "AGENTOBS_MIGRATE_ON_START",
    "AGENTOBS_SAMPLE_RETENTION",
    "AGENTOBS_MAX_UNREGISTERED_AGENTS",
    "AGENTOBS_LOG_LEVEL",
    "AGENTOBS_LOG_FORMAT",
]

SPLIT = {**DATABASE, "mode": "split"}


def selector(component: str | None = None) -> dict[str, str]:
    labels = {"app.kubernetes.io/name": "agentobs", "app.kubernetes.io/instance": RELEASE}
    if component is not None:
        labels["app.kubernetes.io/component"] = component
    return labels


def env_values(deployment: dict[str, Any]) -> dict[str, Any]:
    return {v["name"]: v.get("value", v.get("valueFrom")) for v in container(deployment)["env"]}


def assert_restricted(pod_spec: dict[str, Any]) -> None:
    """Assert the fields that Pod Security "restricted" checks, plus a read-only root."""
    pod_context = pod_spec["securityContext"]
    assert pod_context["runAsNonRoot"] is True
    assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}
    for each in pod_spec["containers"]:
        context = each["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, each["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, each["name"]
        assert context["readOnlyRootFilesystem"] is True, each["name"]
        assert "privileged" not in context, each["name"]


def test_all_in_one_runs_one_deployment(helm: Helm) -> None:
    deployments = by_kind(helm.template(DATABASE), "Deployment")

    assert list(deployments) == [FULLNAME]
    deployment = deployments[FULLNAME]
    assert deployment["metadata"]["namespace"] == NAMESPACE
    assert deployment["spec"]["replicas"] == 1
    assert container(deployment)["image"] == IMAGE
    assert container(deployment)["args"] == ["run"]


def test_all_in_one_sets_every_setting(helm: Helm) -> None:
    deployment = by_kind(helm.template(DATABASE), "Deployment")[FULLNAME]
    values = env_values(deployment)

    assert env_names(deployment) == SETTINGS
    assert values["AGENTOBS_DATABASE_URL"] == {
        "secretKeyRef": {"name": "agentobs-database", "key": "dsn"},
    }
    assert values["AGENTOBS_PORT"] == "8080"
    assert values["AGENTOBS_LISTEN_HOST"] == "0.0.0.0"
    assert values["AGENTOBS_TOKEN_AUDIENCE"] == "agentobs"
    assert values["AGENTOBS_ALLOW_UNAUTHENTICATED"] == "false"
    assert values["AGENTOBS_STATUS_INTERVAL"] == "5"
    assert values["AGENTOBS_STATUS_QPS"] == "10"
    assert values["AGENTOBS_STATUS_BURST"] == "20"
    assert values["AGENTOBS_RESYNC_INTERVAL"] == "180"
    assert values["AGENTOBS_STALE_AFTER"] == "300"
    assert values["AGENTOBS_STATUS_MAX_MODELS"] == "20"
    assert values["AGENTOBS_MIGRATE_ON_START"] == "true"
    assert values["AGENTOBS_SAMPLE_RETENTION"] == "172800"
    assert values["AGENTOBS_MAX_UNREGISTERED_AGENTS"] == "100"
    assert values["AGENTOBS_LOG_LEVEL"] == "info"
    assert values["AGENTOBS_LOG_FORMAT"] == "text"


def test_settings_follow_the_values(helm: Helm) -> None:
    config = {
        "tokenAudience": "obs-audience",
        "allowUnauthenticated": True,
        "statusInterval": 7,
        "statusQps": 3,
        "statusBurst": 4,
        "resyncInterval": 600,
        "staleAfter": 900,
        "statusMaxModels": 50,
        "migrateOnStart": False,
        "sampleRetention": 86400,
        "maxUnregisteredAgents": 5,
        "logLevel": "debug",
        "logFormat": "json",
    }
    objects = helm.template({**DATABASE, "config": config, "port": 9090})
    values = env_values(by_kind(objects, "Deployment")[FULLNAME])

    assert values["AGENTOBS_PORT"] == "9090"
    assert values["AGENTOBS_TOKEN_AUDIENCE"] == "obs-audience"
    assert values["AGENTOBS_ALLOW_UNAUTHENTICATED"] == "true"
    assert values["AGENTOBS_STATUS_INTERVAL"] == "7"
    assert values["AGENTOBS_STATUS_QPS"] == "3"
    assert values["AGENTOBS_STATUS_BURST"] == "4"
    assert values["AGENTOBS_RESYNC_INTERVAL"] == "600"
    assert values["AGENTOBS_STALE_AFTER"] == "900"
    assert values["AGENTOBS_STATUS_MAX_MODELS"] == "50"
    assert values["AGENTOBS_MIGRATE_ON_START"] == "false"
    assert values["AGENTOBS_SAMPLE_RETENTION"] == "86400"
    assert values["AGENTOBS_MAX_UNREGISTERED_AGENTS"] == "5"
    assert values["AGENTOBS_LOG_LEVEL"] == "debug"
    assert values["AGENTOBS_LOG_FORMAT"] == "json"


def test_container_port_follows_the_port_value(helm: Helm) -> None:
    objects = helm.template({**DATABASE, "port": 9090})
    ports = container(by_kind(objects, "Deployment")[FULLNAME])["ports"]

    assert ports == [{"name": "http", "containerPort": 9090, "protocol": "TCP"}]


def test_probes_use_health_endpoints(helm: Helm) -> None:
    deployment = by_kind(helm.template(DATABASE), "Deployment")[FULLNAME]
    main = container(deployment)

    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["livenessProbe"]["periodSeconds"] == 10
    assert main["readinessProbe"]["periodSeconds"] == 5


def test_containers_have_requests_and_limits(helm: Helm) -> None:
    for values in (DATABASE, SPLIT):
        for name, deployment in by_kind(helm.template(values), "Deployment").items():
            resources = container(deployment)["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}, name
            assert "memory" in resources["limits"], name


@pytest.mark.parametrize("mode", ["allInOne", "split"])
def test_pods_meet_restricted_pod_security(helm: Helm, mode: str) -> None:
    objects = helm.template({**DATABASE, "mode": mode})

    for deployment in by_kind(objects, "Deployment").values():
        pod_spec = deployment["spec"]["template"]["spec"]
        assert_restricted(pod_spec)
        assert pod_spec["securityContext"]["runAsUser"] == 10001
        assert {"name": "tmp", "mountPath": "/tmp"} in container(deployment)["volumeMounts"]


def test_pods_run_as_the_chart_service_account(helm: Helm) -> None:
    objects = helm.template(SPLIT)
    accounts = by_kind(objects, "ServiceAccount")

    assert list(accounts) == [FULLNAME]
    for deployment in by_kind(objects, "Deployment").values():
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == FULLNAME


def test_existing_service_account_is_used(helm: Helm) -> None:
    objects = helm.template({**DATABASE, "serviceAccount": {"create": False, "name": "ops"}})

    assert by_kind(objects, "ServiceAccount") == {}
    deployment = by_kind(objects, "Deployment")[FULLNAME]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "ops"
    binding = by_kind(objects, "ClusterRoleBinding")[FULLNAME]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "ops", "namespace": NAMESPACE}
    ]


def test_split_runs_receivers_and_operators(helm: Helm) -> None:
    objects = helm.template({**SPLIT, "receiver": {"replicas": 4}})
    deployments = by_kind(objects, "Deployment")

    assert sorted(deployments) == [f"{FULLNAME}-operator", f"{FULLNAME}-receiver"]
    receiver = deployments[f"{FULLNAME}-receiver"]
    operator = deployments[f"{FULLNAME}-operator"]
    assert receiver["spec"]["replicas"] == 4
    assert operator["spec"]["replicas"] == 2
    assert container(receiver)["args"] == ["receiver"]
    assert container(operator)["args"] == ["operator"]
    assert container(receiver)["image"] == container(operator)["image"] == IMAGE
    assert env_names(receiver) == env_names(operator) == SETTINGS


@pytest.mark.parametrize(
    ("mode", "components"),
    [
        ("allInOne", ["all-in-one"]),
        ("split", ["receiver", "operator"]),
    ],
)
def test_selectors_use_name_instance_component(
    helm: Helm,
    mode: str,
    components: list[str],
) -> None:
    objects = helm.template({**DATABASE, "mode": mode})
    deployments = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in by_kind(objects, "Deployment").values()
    }

    assert sorted(deployments) == sorted(components)
    for component, deployment in deployments.items():
        assert deployment["spec"]["selector"] == {"matchLabels": selector(component)}
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert pod_labels.items() >= selector(component).items()


@pytest.mark.parametrize(("mode", "component"), [("allInOne", "all-in-one"), ("split", "receiver")])
def test_heartbeat_service_selects_receivers(
    helm: Helm,
    mode: str,
    component: str,
) -> None:
    services = by_kind(helm.template({**DATABASE, "mode": mode}), "Service")
    heartbeats = services[FULLNAME]

    assert heartbeats["spec"]["selector"] == selector(component)
    assert heartbeats["spec"]["type"] == "ClusterIP"
    assert heartbeats["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"},
    ]


def test_metrics_service_selects_every_agentobs_pod(helm: Helm) -> None:
    services = by_kind(helm.template(SPLIT), "Service")
    metrics = services[f"{FULLNAME}-metrics"]

    assert metrics["spec"]["selector"] == selector()
    assert metrics["metadata"]["labels"]["app.kubernetes.io/component"] == "metrics"
    assert metrics["spec"]["ports"] == [
        {"name": "http-metrics", "port": 8080, "targetPort": "http", "protocol": "TCP"},
    ]


@pytest.mark.parametrize(
    ("mode", "components"),
    [
        ("allInOne", ["all-in-one"]),
        ("split", ["receiver", "operator"]),
    ],
)
def test_each_deployment_has_a_disruption_budget(
    helm: Helm,
    mode: str,
    components: list[str],
) -> None:
    budgets = by_kind(helm.template({**DATABASE, "mode": mode}), "PodDisruptionBudget")

    assert sorted(budgets) == sorted(f"{FULLNAME}-{c}" for c in components)
    for component in components:
        spec = budgets[f"{FULLNAME}-{component}"]["spec"]
        assert spec == {"maxUnavailable": 1, "selector": {"matchLabels": selector(component)}}


def test_disruption_budgets_can_be_turned_off(helm: Helm) -> None:
    objects = helm.template({**SPLIT, "podDisruptionBudget": {"enabled": False}})

    assert by_kind(objects, "PodDisruptionBudget") == {}


def test_static_tokens_mount_only_on_receivers(helm: Helm) -> None:
    config = {"staticTokens": {"existingSecret": "outside-agents", "key": "tokens.yaml"}}
    deployments = by_kind(helm.template({**SPLIT, "config": config}), "Deployment")
    receiver = deployments[f"{FULLNAME}-receiver"]
    operator = deployments[f"{FULLNAME}-operator"]

    assert env_values(receiver)["AGENTOBS_STATIC_TOKENS_FILE"] == (
        "/etc/agentobs/static-tokens/tokens.yaml"
    )
    assert "AGENTOBS_STATIC_TOKENS_FILE" not in env_names(operator)
    volumes = {v["name"]: v for v in receiver["spec"]["template"]["spec"]["volumes"]}
    assert volumes["static-tokens"]["secret"] == {
        "secretName": "outside-agents",
        "items": [{"key": "tokens.yaml", "path": "tokens.yaml"}],
    }
    assert {
        "name": "static-tokens",
        "mountPath": "/etc/agentobs/static-tokens",
        "readOnly": True,
    } in container(receiver)["volumeMounts"]
    operator_volumes = [v["name"] for v in operator["spec"]["template"]["spec"]["volumes"]]
    assert operator_volumes == ["tmp"]


def test_image_digest_replaces_the_tag(helm: Helm) -> None:
    digest = "sha256:" + "ab" * 32
    objects = helm.template({**DATABASE, "image": {"tag": "9.9.9", "digest": digest}})

    image = container(by_kind(objects, "Deployment")[FULLNAME])["image"]
    assert image == f"ghcr.io/agentobs/agentobs@{digest}"


def test_extra_env_is_appended(helm: Helm) -> None:
    extra = [{"name": "HTTPS_PROXY", "value": "http://proxy.internal:3128"}]
    deployment = by_kind(helm.template({**DATABASE, "extraEnv": extra}), "Deployment")[FULLNAME]

    assert env_names(deployment) == [*SETTINGS, "HTTPS_PROXY"]


def test_spread_constraints_get_component_selector(helm: Helm) -> None:
    constraint = {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway",
    }
    objects = helm.template({**SPLIT, "topologySpreadConstraints": [constraint]})
    receiver = by_kind(objects, "Deployment")[f"{FULLNAME}-receiver"]

    constraints = receiver["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert constraints == [{**constraint, "labelSelector": {"matchLabels": selector("receiver")}}]


def test_default_install_has_no_optional_objects(helm: Helm) -> None:
    kinds = sorted({o["kind"] for o in helm.template(DATABASE)})

    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]


def test_objects_carry_standard_labels(helm: Helm) -> None:
    values = {
        **SPLIT,
        "postgresql": {"enabled": True},
        "metrics": {"serviceMonitor": {"enabled": True}},
        "grafanaDashboard": {"enabled": True},
    }

    for each in helm.template(values):
        labels = each["metadata"]["labels"]
        name = f"{each['kind']}/{each['metadata']['name']}"
        assert labels["app.kubernetes.io/instance"] == RELEASE, name
        assert labels["app.kubernetes.io/managed-by"] == "Helm", name
        assert labels["app.kubernetes.io/part-of"] == "agentobs", name
        assert labels["helm.sh/chart"] == "agentobs-0.1.0", name
        assert labels["app.kubernetes.io/name"] in {"agentobs", "postgresql"}, name
