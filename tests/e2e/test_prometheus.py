"""A real Prometheus scrapes `agentobs run` and its sums equal the AgentObservation status.

agentobs_tokens_total has one series per object, model and kind. The kinds
input and output add up to .status.usage.totalTokens. The kinds cache_read,
cache_write and reasoning are breakdowns contained in input or output, so a
sum over every kind counts them twice and equals the sum of all five status
counters, not totalTokens.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from main_job import StartAgentobs, create_observation, metric_sums, start_agent

import agentobs_client
from devenv import processes
from devenv.controlplane import ControlPlane
from devenv.service import AgentobsProcess, wait_for

STATUS_KINDS = (
    ("input", "inputTokens"),
    ("output", "outputTokens"),
    ("cache_read", "cacheReadTokens"),
    ("cache_write", "cacheWriteTokens"),
    ("reasoning", "reasoningTokens"),
)

# Two agents with every token kind, some models shared, all numbers known.
PLANS = {
    "planner": [
        [
            {
                "model": "gpt-4o",
                "input_tokens": 12_000,
                "output_tokens": 900,
                "cache_read_tokens": 4_000,
                "reasoning_tokens": 300,
            },
            {
                "model": "claude-sonnet-4",
                "input_tokens": 8_500,
                "output_tokens": 1_200,
                "cache_read_tokens": 2_000,
                "cache_write_tokens": 1_500,
            },
        ],
        [
            {
                "model": "gpt-4o",
                "input_tokens": 15_250,
                "output_tokens": 640,
                "cache_read_tokens": 6_100,
                "reasoning_tokens": 120,
            },
        ],
    ],
    "triage": [
        [
            {
                "model": "claude-sonnet-4",
                "input_tokens": 3_300,
                "output_tokens": 410,
                "cache_write_tokens": 3_000,
            },
        ],
        [
            {"model": "gpt-4o-mini", "input_tokens": 700, "output_tokens": 55},
            {
                "model": "claude-sonnet-4",
                "input_tokens": 4_100,
                "output_tokens": 380,
                "cache_read_tokens": 3_000,
                "reasoning_tokens": 90,
            },
        ],
    ],
}


class Prometheus:
    """A Prometheus server on 127.0.0.1 that scrapes one target every second."""

    def __init__(self, root: Path, target: str) -> None:
        self.root = root
        self.port = processes.free_port()
        self.log = root / "prometheus.log"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {
                    "job_name": "agentobs",
                    "metrics_path": "/metrics",
                    "static_configs": [{"targets": [target]}],
                }
            ],
        }
        self.config_file = root / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [
            "prometheus",
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.root / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        self.process = processes.start("prometheus", argv, log=self.log)
        processes.wait_until(
            "prometheus", self._ready, process=self.process, log=self.log, timeout=60
        )

    def stop(self) -> None:
        if self.process is not None:
            processes.stop(self.process)
        self.process = None

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Run an instant query with the HTTP API and return its result vector."""
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(address, timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        assert body["data"]["resultType"] == "vector", body
        return list(body["data"]["result"])


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[[AgentobsProcess], Prometheus]]:
    """Start Prometheus servers that scrape an agentobs process, and stop them afterwards."""
    started: list[Prometheus] = []

    def start(service: AgentobsProcess) -> Prometheus:
        root = tmp_path / f"prometheus-{len(started)}"
        root.mkdir()
        server = Prometheus(root, f"127.0.0.1:{service.port}")
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def agent_namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A namespace for the agents, whose AgentObservations are deleted afterwards."""
    name = f"prom-{uuid.uuid4().hex[:8]}"
    control_plane.create_namespace(name)
    yield name
    control_plane.kubectl(
        "delete", "agentobservations", "--all", "-n", name, "--wait=false", check=False
    )


def sums_by_object(result: list[dict[str, Any]], namespace: str) -> dict[str, int]:
    """Map each AgentObservation in `namespace` to its value, checking the value is whole."""
    sums = {}
    for sample in result:
        if sample["metric"]["namespace"] != namespace:
            continue
        value = float(sample["value"][1])
        assert value == int(value), sample
        sums[sample["metric"]["agentobservation"]] = int(value)
    return sums


def status_usage(plane: ControlPlane, namespace: str) -> dict[str, dict[str, Any]]:
    listing = json.loads(plane.kubectl("get", "ao", "-n", namespace, "-o", "json"))
    return {
        item["metadata"]["name"]: dict((item.get("status") or {}).get("usage") or {})
        for item in listing["items"]
    }


def expected_usage(plan: list[list[dict[str, Any]]]) -> dict[str, int]:
    calls = [call for round_ in plan for call in round_]
    usage = {
        field: sum(call.get(f"{kind}_tokens", 0) for call in calls) for kind, field in STATUS_KINDS
    }
    usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"]
    return usage


def test_prometheus_sums_equal_status(
    control_plane: ControlPlane,
    start_agentobs: StartAgentobs,
    start_prometheus: Callable[[AgentobsProcess], Prometheus],
    agent_namespace: str,
    tmp_path: Path,
) -> None:
    for name in PLANS:
        control_plane.create_service_account(agent_namespace, name)
        create_observation(control_plane, agent_namespace, name, service_account=name)
    service = start_agentobs("run", "--status-interval", "1", "--resync-interval", "30")
    prometheus = start_prometheus(service)

    agents = {
        name: start_agent(
            control_plane,
            service,
            tmp_path,
            namespace=agent_namespace,
            agent=name,
            service_account=name,
            plan=plan,
        )
        for name, plan in PLANS.items()
    }
    for name, agent in agents.items():
        _, stderr = agent.communicate(timeout=120)
        assert agent.returncode == 0, f"agent {name} failed: {stderr[-2000:]}"

    # The status shows every recorded token, and /metrics carries the same totals.
    expected = {name: expected_usage(plan) for name, plan in PLANS.items()}
    wait_for(
        lambda: (
            {
                name: {field: usage.get(field) for field in expected[name]}
                for name, usage in status_usage(control_plane, agent_namespace).items()
            }
            == expected
        ),
        timeout=60,
        what=f"the status to show {expected}",
    )
    usage = status_usage(control_plane, agent_namespace)

    def exported_kinds() -> dict[str, dict[str, int]]:
        sums = metric_sums(service.metrics())
        return {name: sums.get((agent_namespace, name), {}) for name in PLANS}

    expected_kinds = {
        name: {kind: usage[name][field] for kind, field in STATUS_KINDS} for name in PLANS
    }
    wait_for(lambda: exported_kinds() == expected_kinds, timeout=30, what="/metrics totals")

    # Wait for a scrape that started after /metrics carried the final totals.
    settled = time.time()
    wait_for(
        lambda: [
            sample
            for sample in prometheus.query('timestamp(up{job="agentobs"} == 1)')
            if float(sample["value"][1]) > settled
        ],
        timeout=30,
        what="a successful scrape after the totals settled",
    )

    input_output = sums_by_object(
        prometheus.query(
            'sum by (namespace, agentobservation) (agentobs_tokens_total{kind=~"input|output"})'
        ),
        agent_namespace,
    )
    every_kind = sums_by_object(
        prometheus.query("sum by (namespace, agentobservation) (agentobs_tokens_total)"),
        agent_namespace,
    )
    print(f"\ninput|output: {input_output}\nevery kind: {every_kind}")

    assert input_output == {name: usage[name]["totalTokens"] for name in PLANS}
    assert every_kind == {
        name: sum(usage[name][field] for _, field in STATUS_KINDS) for name in PLANS
    }


def test_metrics_pass_promtool_check(
    control_plane: ControlPlane, start_agentobs: StartAgentobs, agent_namespace: str
) -> None:
    """promtool exits 0 with no output for clean metrics, and 3 with one line per problem."""
    control_plane.create_service_account(agent_namespace, "planner")
    create_observation(control_plane, agent_namespace, "planner", service_account="planner")
    service = start_agentobs("run", "--status-interval", "1")

    # Report usage first, so the usage counters are in the text that promtool reads.
    ledger = agentobs_client.UsageLedger()
    reporter = agentobs_client.Reporter(
        ledger,
        url=service.url,
        agent_name="planner",
        namespace=agent_namespace,
        token=control_plane.create_token(agent_namespace, "planner"),
        handle_sigterm=False,
    )
    ledger.record("gpt-4o", input_tokens=1_200, output_tokens=80, cache_read_tokens=600)
    assert reporter.close(30) is True

    def metrics_with_usage() -> str:
        text = service.metrics()
        return text if "agentobs_tokens_total{" in text else ""

    text = wait_for(metrics_with_usage, timeout=30, what="agentobs_tokens_total in /metrics")

    result = subprocess.run(
        ["promtool", "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout == ""
    assert result.stderr == ""
    assert result.returncode == 0
