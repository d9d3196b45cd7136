"""The optional ServiceMonitor and the Grafana dashboard ConfigMap."""

from __future__ import annotations

import json
import re
from typing import Any

from chart_helm import CHART, DATABASE, NAMESPACE, RELEASE, Helm, by_kind

FULLNAME = f"{RELEASE}-agentobs"
DASHBOARD_FILE = CHART / "dashboards" / "agentobs.json"


def dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_service_monitor_is_off_by_default(helm: Helm) -> None:
    kinds = {o["kind"] for o in helm.template(DATABASE)}

    assert "ServiceMonitor" not in kinds


def test_service_monitor_scrapes_the_metrics_service(helm: Helm) -> None:
    values = {
        **DATABASE,
        "mode": "split",
        "metrics": {
            "serviceMonitor": {
                "enabled": True,
                "labels": {"release": "prometheus"},
                "interval": "15s",
            }
        },
    }
    objects = helm.template(values)
    monitor = by_kind(objects, "ServiceMonitor")[FULLNAME]
    metrics_service = by_kind(objects, "Service")[f"{FULLNAME}-metrics"]

    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    wanted = monitor["spec"]["selector"]["matchLabels"]
    assert wanted.items() <= metrics_service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["spec"]["endpoints"] == [
        {"port": "http-metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"},
    ]
    port_names = [p["name"] for p in metrics_service["spec"]["ports"]]
    assert port_names == ["http-metrics"]


def test_service_monitor_selects_only_metrics(helm: Helm) -> None:
    values = {**DATABASE, "metrics": {"serviceMonitor": {"enabled": True}}}
    objects = helm.template(values)
    wanted = by_kind(objects, "ServiceMonitor")[FULLNAME]["spec"]["selector"]["matchLabels"]

    matching = [
        name
        for name, service in by_kind(objects, "Service").items()
        if wanted.items() <= service["metadata"]["labels"].items()
    ]
    assert matching == [f"{FULLNAME}-metrics"]


def test_dashboard_is_off_by_default(helm: Helm) -> None:
    assert by_kind(helm.template(DATABASE), "ConfigMap") == {}


def test_dashboard_config_map_has_sidecar_label(helm: Helm) -> None:
    values = {**DATABASE, "grafanaDashboard": {"enabled": True, "namespace": "monitoring"}}
    config_map = by_kind(helm.template(values), "ConfigMap")[f"{FULLNAME}-dashboard"]

    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert json.loads(config_map["data"]["agentobs.json"]) == json.loads(DASHBOARD_FILE.read_text())


def test_dashboard_plots_tokens_per_agent_and_model() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    queries = dashboard_queries(dashboard)
    token_queries = [q for q in queries if "agentobs_tokens_total" in q]
    call_queries = [q for q in queries if "agentobs_calls_total" in q]

    assert any("sum by (namespace, agentobservation)" in q for q in token_queries)
    assert any("sum by (model)" in q for q in token_queries)
    assert any("sum by (kind)" in q for q in token_queries)
    assert any("sum by (namespace, agentobservation)" in q for q in call_queries)
    assert any("sum by (model)" in q for q in call_queries)


def test_dashboard_queries_use_only_known_labels() -> None:
    """Every label a query filters or groups by exists on the agentobs metrics."""
    known = {"namespace", "agentobservation", "model", "kind"}
    dashboard = json.loads(DASHBOARD_FILE.read_text())

    for query in dashboard_queries(dashboard):
        filtered = set(re.findall(r"([a-z_]+)=~?\"", query))
        grouped = {
            label.strip()
            for group in re.findall(r"by \(([^)]*)\)", query)
            for label in group.split(",")
        }
        assert filtered <= known, query
        assert grouped <= known, query


def test_dashboard_totals_skip_breakdowns() -> None:
    """Cache and reasoning tokens are parts of input and output, so totals use only those two."""
    dashboard = json.loads(DASHBOARD_FILE.read_text())

    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            query = target["expr"]
            if "agentobs_tokens_total" in query and "by (kind)" not in query:
                assert 'kind=~"input|output"' in query, (panel["title"], query)


def test_dashboard_panels_are_unique() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    titles = [panel["title"] for panel in dashboard["panels"]]

    assert len(set(ids)) == len(ids)
    assert len(set(titles)) == len(titles)
    assert dashboard["uid"] == "agentobs-tokens"
