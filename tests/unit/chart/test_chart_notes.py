"""NOTES.txt tells how to see usage and connect an agent, and mentions only what is enabled."""

from __future__ import annotations

from chart_helm import DATABASE, NAMESPACE, RELEASE, Helm

URL = f"http://{RELEASE}-agentobs.{NAMESPACE}.svc:8080"


def test_notes_show_how_an_agent_connects(helm: Helm) -> None:
    notes = helm.notes(DATABASE)

    assert "kubectl get ao -A" in notes
    assert f"value: {URL}" in notes
    assert "- name: AGENTOBS_URL" in notes
    assert "- name: AGENTOBS_AGENT_NAME" in notes
    assert "- name: AGENTOBS_TOKEN_FILE" in notes
    assert "serviceAccountToken:" in notes
    assert "audience: agentobs" in notes


def test_notes_follow_the_audience_and_port(helm: Helm) -> None:
    values = {**DATABASE, "config": {"tokenAudience": "obs"}, "service": {"port": 80}}
    notes = helm.notes(values)

    assert "audience: obs\n" in notes
    assert f"value: http://{RELEASE}-agentobs.{NAMESPACE}.svc:80\n" in notes


def test_default_notes_omit_optional_parts(helm: Helm) -> None:
    notes = helm.notes(DATABASE)

    assert "Mode: all-in-one" in notes
    assert "Secret agentobs-database, key dsn" in notes
    assert "NOT FOR PRODUCTION" not in notes
    assert "ServiceMonitor" not in notes
    assert "Grafana" not in notes
    assert "static bearer token" not in notes
    assert "allowUnauthenticated" not in notes


def test_notes_mention_each_enabled_part(helm: Helm) -> None:
    values = {
        "mode": "split",
        "postgresql": {"enabled": True},
        "config": {
            "staticTokens": {"existingSecret": "outside-agents"},
            "allowUnauthenticated": True,
        },
        "metrics": {"serviceMonitor": {"enabled": True}},
        "grafanaDashboard": {"enabled": True},
    }
    notes = helm.notes(values)

    assert "Mode: split. 2 receiver(s)" in notes
    assert "NOT FOR PRODUCTION" in notes
    assert "Secret\noutside-agents" in notes
    assert "config.allowUnauthenticated is true" in notes
    assert "ServiceMonitor" in notes
    assert "Grafana dashboard" in notes


def test_notes_tell_how_to_upgrade_the_crd(helm: Helm) -> None:
    notes = helm.notes(DATABASE)

    assert "kubectl apply --server-side --force-conflicts -f <chart folder>/crds/" in notes
