"""values.yaml, values.schema.json and the ci/ files: bad values fail with a clear message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml
from chart_helm import CHART, CI_VALUES, DATABASE, Helm

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES_FILE = CHART / "values.yaml"

# (values, text the error must contain) pairs: each names the bad value and what is allowed.
REJECTED = [
    ({"mode": "both"}, "at '/mode': value must be one of 'allInOne', 'split'"),
    ({"replicas": 2}, "additional properties 'replicas' not allowed"),
    ({"receiver": {"replica": 2}}, "additional properties 'replica' not allowed"),
    ({"allInOne": {"replicas": "two"}}, "at '/allInOne/replicas': got string, want integer"),
    (
        {"config": {"logFormat": "xml"}},
        "at '/config/logFormat': value must be one of 'text', 'json'",
    ),
    ({"config": {"logLevel": "verbose"}}, "at '/config/logLevel'"),
    ({"config": {"statusInterval": 0}}, "at '/config/statusInterval'"),
    ({"config": {"sampleRetention": 3600}}, "at '/config/sampleRetention'"),
    ({"config": {"statusMaxModels": 1000}}, "at '/config/statusMaxModels'"),
    (
        {"config": {"allowUnauthenticated": "yes"}},
        "at '/config/allowUnauthenticated': got string, want boolean",
    ),
    ({"port": 80}, "at '/port'"),
    ({"service": {"type": "Ingress"}}, "at '/service/type'"),
    ({"image": {"pullPolicy": "Sometimes"}}, "at '/image/pullPolicy'"),
    ({"image": {"digest": "latest"}}, "at '/image/digest'"),
    (
        {"metrics": {"serviceMonitor": {"interval": "often"}}},
        "at '/metrics/serviceMonitor/interval'",
    ),
    ({"database": {"existingSecret": "Bad_Name"}}, "at '/database/existingSecret'"),
    ({"postgresql": {"username": "Robert'); DROP"}}, "at '/postgresql/username'"),
    ({"podDisruptionBudget": {"maxUnavailable": 0}}, "at '/podDisruptionBudget/maxUnavailable'"),
]


def schema_objects(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield every property schema with its dotted path."""
    for name, child in node.get("properties", {}).items():
        child_path = f"{path}.{name}" if path else name
        yield child_path, child
        yield from schema_objects(child, child_path)


def test_chart_defaults_match_the_schema() -> None:
    jsonschema.validate(yaml.safe_load(VALUES_FILE.read_text()), SCHEMA)


@pytest.mark.parametrize("path", CI_VALUES, ids=lambda p: p.name)
def test_ci_values_match_the_schema(path: Any) -> None:
    jsonschema.validate(yaml.safe_load(path.read_text()), SCHEMA)


def test_ci_values_cover_each_scenario() -> None:
    names = sorted(p.name for p in CI_VALUES)

    assert names == ["all-in-one-values.yaml", "split-values.yaml", "trial-postgres-values.yaml"]


def test_every_schema_property_has_a_description() -> None:
    missing = [path for path, node in schema_objects(SCHEMA) if not node.get("description")]

    assert missing == []


def test_schema_objects_reject_unknown_keys() -> None:
    """An object with fixed properties forbids others, so a misspelt key fails."""
    assert SCHEMA["additionalProperties"] is False
    for path, node in schema_objects(SCHEMA):
        if "properties" in node:
            assert node.get("additionalProperties") is False, path


def test_every_value_has_a_comment_above_it() -> None:
    """Each key the schema names has a comment on the line above. Kubernetes structures
    (resources, probes) are covered by the comment above their own key."""
    fixed = {path for path, _ in schema_objects(SCHEMA)}
    kubernetes_structures = {"resources", "livenessProbe", "readinessProbe"}
    parents: list[tuple[int, str]] = []
    uncommented = []
    lines = VALUES_FILE.read_text().splitlines()
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "-")) or ":" not in stripped:
            continue
        indent = len(line) - len(line.lstrip())
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = ".".join([name for _, name in parents] + [stripped.split(":", 1)[0]])
        parents.append((indent, path.rsplit(".", 1)[-1]))
        inside_structure = kubernetes_structures & set(path.split(".")[:-1])
        if path in fixed and not inside_structure and not lines[number - 1].startswith("#", indent):
            uncommented.append(f"line {number + 1}: {path}")

    assert uncommented == []


@pytest.mark.parametrize(("values", "message"), REJECTED, ids=[m for _, m in REJECTED])
def test_schema_rejects_bad_values(helm: Helm, values: dict[str, Any], message: str) -> None:
    error = helm.template_error({**DATABASE, **values})

    assert "values don't meet the specifications of the schema" in error
    assert message in error


def test_missing_database_fails_with_the_fix(helm: Helm) -> None:
    error = helm.template_error({})

    assert "database.existingSecret is empty" in error
    assert "postgresql.enabled=true" in error


@pytest.mark.parametrize("path", CI_VALUES, ids=lambda p: p.name)
def test_lint_is_clean(helm: Helm, path: Any) -> None:
    result = helm.run("lint", "--strict", str(CHART), "--values", str(path))

    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout
    assert "[ERROR]" not in result.stdout
