"""Static checks of the Dockerfile, which cannot be built without a container engine here,
and of its agreement with the chart."""

from __future__ import annotations

import json
import re

import yaml
from chart_helm import CHART

from devenv import binaries

DOCKERFILE = binaries.REPO / "Dockerfile"
DOCKERIGNORE = binaries.REPO / ".dockerignore"


def instructions() -> list[tuple[str, str]]:
    """Return (INSTRUCTION, arguments) pairs, with continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, arguments = stripped.partition(" ")
            pairs.append((keyword.upper(), arguments.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_build_has_a_builder_and_a_final_stage() -> None:
    stages = [arguments for keyword, arguments in instructions() if keyword == "FROM"]

    assert len(stages) == 2
    assert stages[0].endswith(" AS builder")
    assert " AS " not in stages[1]


def test_builder_makes_wheels_of_both_projects() -> None:
    runs = [arguments for keyword, arguments in instructions() if keyword == "RUN"]

    assert any("pip wheel" in run and "./sdk_client ." in run for run in runs)
    assert any("--no-index --find-links /wheels" in run for run in runs)


def test_final_stage_has_no_build_tools() -> None:
    stage = final_stage()
    copies = [arguments for keyword, arguments in stage if keyword == "COPY"]
    runs = " ".join(arguments for keyword, arguments in stage if keyword == "RUN")

    assert copies == ["--from=builder /opt/agentobs /opt/agentobs"]
    for tool in ("apt-get", "gcc", "build-essential", "pip install"):
        assert tool not in runs, tool


def test_final_stage_runs_as_the_chart_user() -> None:
    users = [arguments for keyword, arguments in final_stage() if keyword == "USER"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    context = values["podSecurityContext"]

    assert users == [f"{context['runAsUser']}:{context['runAsGroup']}"]
    assert context["runAsUser"] != 0


def test_entry_point_is_agentobs_run() -> None:
    stage = dict(final_stage())

    assert json.loads(stage["ENTRYPOINT"]) == ["agentobs"]
    assert json.loads(stage["CMD"]) == ["run"]
    assert stage["EXPOSE"] == "8080"


def test_build_context_is_python_projects_only() -> None:
    rules = [
        line for line in DOCKERIGNORE.read_text().splitlines() if line and not line.startswith("#")
    ]

    assert rules[0] == "*"
    assert {r for r in rules if r.startswith("!")} == {
        "!pyproject.toml",
        "!README.md",
        "!operator/",
        "!sdk_client/",
    }
