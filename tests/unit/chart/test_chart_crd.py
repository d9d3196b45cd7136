"""The chart carries the same CRD as the repository's crds/ folder."""

from __future__ import annotations

import yaml
from chart_helm import CHART

from devenv import binaries

SOURCE = binaries.REPO / "crds" / "agentobservations.yaml"


def test_chart_crd_is_identical_to_the_source() -> None:
    copy = CHART / "crds" / "agentobservations.yaml"

    assert copy.read_bytes() == SOURCE.read_bytes(), (
        f"{copy} differs from {SOURCE}; copy the source over it"
    )


def test_chart_crds_folder_contains_only_that_crd() -> None:
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == ["agentobservations.yaml"]


def test_chart_crd_is_the_agentobservation_crd() -> None:
    crd = yaml.safe_load((CHART / "crds" / "agentobservations.yaml").read_text())

    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == "agentobservations.agentobs.dev"
