"""The ClusterRole grants exactly what kopf and agentobs need, and nothing more."""

from __future__ import annotations

from chart_helm import DATABASE, NAMESPACE, RELEASE, Helm, by_kind

FULLNAME = f"{RELEASE}-agentobs"

# (API group, resource, verb) triples of the least-privilege set.
EXPECTED = {
    # kopf: resource discovery and events.
    ("apiextensions.k8s.io", "customresourcedefinitions", "get"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    ("", "events", "create"),
    ("", "events", "patch"),
    # agentobs: the objects, their status, and the checks of agents' tokens.
    ("agentobs.dev", "agentobservations", "get"),
    ("agentobs.dev", "agentobservations", "list"),
    ("agentobs.dev", "agentobservations", "watch"),
    ("agentobs.dev", "agentobservations/status", "patch"),
    ("authentication.k8s.io", "tokenreviews", "create"),
    ("authorization.k8s.io", "subjectaccessreviews", "create"),
}


def granted(rules: list[dict[str, list[str]]]) -> set[tuple[str, str, str]]:
    """Expand rules into (group, resource, verb) triples."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_cluster_role_is_least_privilege(helm: Helm) -> None:
    roles = by_kind(helm.template(DATABASE), "ClusterRole")
    rules = roles[FULLNAME]["rules"]

    assert granted(rules) == EXPECTED
    for rule in rules:
        assert set(rule) == {"apiGroups", "resources", "verbs"}, rule
        assert "*" not in rule["verbs"], rule


def test_split_mode_shares_one_role(helm: Helm) -> None:
    objects = helm.template({**DATABASE, "mode": "split"})

    assert list(by_kind(objects, "ClusterRole")) == [FULLNAME]
    assert granted(by_kind(objects, "ClusterRole")[FULLNAME]["rules"]) == EXPECTED


def test_binding_grants_the_role_to_the_service_account(helm: Helm) -> None:
    binding = by_kind(helm.template(DATABASE), "ClusterRoleBinding")[FULLNAME]

    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": FULLNAME,
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE},
    ]


def test_no_namespaced_roles_are_rendered(helm: Helm) -> None:
    kinds = {o["kind"] for o in helm.template({**DATABASE, "postgresql": {"enabled": True}})}

    assert "Role" not in kinds
    assert "RoleBinding" not in kinds


def test_rbac_can_be_left_to_the_cluster_admin(helm: Helm) -> None:
    objects = helm.template({**DATABASE, "rbac": {"create": False}})

    assert by_kind(objects, "ClusterRole") == {}
    assert by_kind(objects, "ClusterRoleBinding") == {}
