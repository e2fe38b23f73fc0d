"""VirtualService checks: destinations, gateways, mesh host conflicts, weights."""

from __future__ import annotations

import pytest

from helpers import ANALYZE_FIXTURES as FIXTURES
from helpers import analyzer_findings as findings_for
from helpers import flagged
from model_serving.checks.analyze import analyze, load_manifests

# --- 1. destinations ------------------------------------------------------------------------


def test_destinations_in_every_host_form_resolve() -> None:
    assert findings_for("vs_destinations_pass.yaml") == []


@pytest.mark.parametrize(
    ("fixture", "resource", "needle"),
    [
        ("vs_destination_unknown_host.yaml", "VirtualService ai-services/ai-model-typo", '"ai-modle"'),
        (
            "vs_destination_external_without_serviceentry.yaml",
            "VirtualService ai-services/huggingface-egress",
            '"huggingface.co" at tcp[0].route[0]',
        ),
        ("vs_mirror_unknown_host.yaml", "VirtualService ai-services/ai-model-shadow", "http[0].mirrors[0]"),
        ("vs_destination_bad_port.yaml", "VirtualService ai-services/ai-model-bad-port", "port 9090"),
        (
            "vs_destination_unknown_subset.yaml",
            "VirtualService ai-services/ai-model-v3",
            'subset "v3" at http[0].route[0] is not defined by any DestinationRule '
            "for host ai-model.ai-services.svc.cluster.local",
        ),
    ],
)
def test_reports_IST0101_when_destination_reference_is_missing(fixture: str, resource: str, needle: str) -> None:
    findings = findings_for(fixture)
    assert flagged(findings, "IST0101") == {resource}
    (finding,) = [f for f in findings if f.code == "IST0101"]
    assert finding.level == "Error"
    assert needle in finding.message


def test_reports_IST0112_when_multi_port_destination_has_no_port() -> None:
    assert flagged(findings_for("vs_destination_port_required.yaml"), "IST0112") == {
        "VirtualService ai-services/embedder"
    }


def test_short_hosts_resolve_in_the_default_namespace() -> None:
    objects = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "llm", "namespace": "default"},
            "spec": {"ports": [{"name": "http", "port": 80}]},
        },
        {
            "apiVersion": "networking.istio.io/v1alpha3",
            "kind": "VirtualService",
            "metadata": {"name": "llm"},
            "spec": {"hosts": ["llm"], "http": [{"route": [{"destination": {"host": "llm"}}]}]},
        },
    ]
    assert analyze(objects) == []
    # With another default namespace the VirtualService moves, and "llm" means llm.models: a
    # namespace the input says nothing about, so the host is noted, not called missing.
    findings = analyze(objects, default_namespace="models")
    assert flagged(findings, "IST0101") == set()
    (note,) = findings
    assert (note.code, note.level, note.resource) == ("MS1007", "Info", "VirtualService models/llm")
    assert "Service llm of namespace models" in note.message


# --- 3. gateways ----------------------------------------------------------------------------


def test_gateway_references_and_host_patterns_are_accepted() -> None:
    assert findings_for("vs_gateways_pass.yaml") == []


@pytest.mark.parametrize(
    ("fixture", "resource", "needle"),
    [
        ("vs_gateway_missing.yaml", "VirtualService ai-services/ai-model-missing-gw", "gateways[0]"),
        (
            "vs_match_gateway_missing.yaml",
            "VirtualService ai-services/ai-model-match-gw",
            "http[0].match[0].gateways[0] not found (looked for Gateway ai-services/ai-model-gw)",
        ),
    ],
)
def test_reports_IST0101_when_gateway_is_missing(fixture: str, resource: str, needle: str) -> None:
    findings = findings_for(fixture)
    assert flagged(findings, "IST0101") == {resource}
    assert any(needle in f.message for f in findings if f.code == "IST0101")


@pytest.mark.parametrize(
    ("fixture", "resource"),
    [
        ("vs_host_not_in_gateway.yaml", "VirtualService ai-services/ai-model-wrong-host"),
        ("vs_host_gateway_other_namespace.yaml", "VirtualService ai-services/ai-model-scoped"),
        ("vs_host_partly_in_gateway.yaml", "VirtualService ai-services/ai-model-partial"),
    ],
)
def test_reports_IST0132_when_gateway_does_not_expose_host(fixture: str, resource: str) -> None:
    findings = findings_for(fixture)
    assert flagged(findings, "IST0132") == {resource}
    assert all(f.level == "Warning" for f in findings if f.code == "IST0132")


def test_internal_host_of_gateway_and_mesh_bound_service_needs_no_gateway_entry() -> None:
    # clean.yaml binds ai-model.ai-services.svc.cluster.local to both the Gateway and mesh.
    findings = analyze(load_manifests([FIXTURES / "clean.yaml"]))
    assert flagged(findings, "IST0132") == set()


# --- 4. mesh host conflicts -----------------------------------------------------------------


def test_gateway_only_and_private_virtual_services_do_not_conflict() -> None:
    assert findings_for("vs_mesh_hosts_pass.yaml") == []


def test_reports_IST0109_when_two_mesh_virtual_services_share_a_host() -> None:
    findings = findings_for("vs_mesh_hosts_conflict.yaml")
    assert flagged(findings, "IST0109") == {
        "VirtualService ai-services/ai-model",
        "VirtualService ai-services/ai-model-canary",
    }
    assert all("ai-model.ai-services.svc.cluster.local" in f.message for f in findings if f.code == "IST0109")


# --- 5. weights -----------------------------------------------------------------------------


def test_single_destination_without_weight_and_splits_of_100_pass() -> None:
    assert findings_for("vs_weights_pass.yaml") == []


def test_reports_MS1001_when_weight_is_negative() -> None:
    findings = findings_for("vs_weight_negative.yaml")
    assert flagged(findings, "MS1001") == {"VirtualService ai-services/ai-model"}
    assert [f.message for f in findings if f.code == "MS1001"] == ["weight -10 is negative at http[0].route[1]"]
    # An invalid weight is reported once, not again as a bad total.
    assert flagged(findings, "MS1002") == set()


def test_reports_MS1002_when_split_weights_do_not_add_up_to_100() -> None:
    findings = findings_for("vs_weights_not_100.yaml")
    assert flagged(findings, "MS1002") == {"VirtualService ai-services/ai-model"}
    assert any("add up to 90" in f.message for f in findings if f.code == "MS1002")
