"""DestinationRule checks: host, subsets selecting pods, TLS certificate verification."""

from __future__ import annotations

from helpers import ANALYZE_FIXTURES as FIXTURES
from helpers import analyzer_findings as findings_for
from helpers import flagged
from model_serving.checks.analyze import analyze, load_manifests

# --- 2. subsets and hosts -------------------------------------------------------------------


def test_subsets_matching_statefulset_cronjob_and_pod_labels_pass() -> None:
    assert findings_for("dr_pass.yaml") == []


def test_reports_IST0173_when_subset_selects_no_pods() -> None:
    findings = findings_for("dr_subset_selects_no_pods.yaml")
    assert flagged(findings, "IST0173") == {"DestinationRule ai-services/ai-model-next"}
    (finding,) = [f for f in findings if f.code == "IST0173"]
    assert finding.level == "Error"
    assert 'subset "v3"' in finding.message and "app=ai-model,version=v3" in finding.message


def test_fails_when_subset_labels_contradict_the_service_selector() -> None:
    objects = load_manifests([FIXTURES / "base.yaml"])
    objects.append(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "contradiction", "namespace": "ai-services"},
            # Pods with app=embedder exist nowhere behind Service ai-model (app=ai-model).
            "spec": {"host": "ai-model", "subsets": [{"name": "v1", "labels": {"app": "embedder", "version": "v1"}}]},
        }
    )
    assert flagged(analyze(objects), "IST0173") == {"DestinationRule ai-services/contradiction"}


def test_reports_IST0174_when_destination_rule_host_is_unknown() -> None:
    findings = findings_for("dr_unknown_host.yaml")
    assert flagged(findings, "IST0174") == {"DestinationRule ai-services/ai-modle"}
    assert any("ai-modle.ai-services.svc.cluster.local" in f.message for f in findings if f.code == "IST0174")


# --- 9. TLS origination without server verification -----------------------------------------


def test_tls_origination_with_ca_credential_or_explicit_skip_passes() -> None:
    assert findings_for("dr_tls_pass.yaml") == []


def test_reports_IST0128_when_simple_tls_has_no_ca_certificates() -> None:
    findings = findings_for("dr_tls_no_ca.yaml")
    assert flagged(findings, "IST0128") == {"DestinationRule ai-services/openai"}
    assert all(f.level == "Warning" for f in findings if f.code == "IST0128")


def test_reports_IST0129_when_port_level_mutual_tls_has_no_ca_certificates() -> None:
    findings = findings_for("dr_tls_no_ca.yaml")
    assert flagged(findings, "IST0129") == {"DestinationRule ai-services/anthropic"}
    assert any("port 443" in f.message for f in findings if f.code == "IST0129")


# --- topology (node) labels in subsets ------------------------------------------------------


def test_subsets_keyed_by_topology_labels_select_any_pod() -> None:
    # zone, region, hostname and topology.istio.io/* come from the node, not the pod template.
    assert findings_for("dr_subset_topology_pass.yaml") == []


def test_reports_IST0173_when_pod_labels_beside_a_topology_label_select_no_pods() -> None:
    findings = findings_for("dr_subset_topology_no_pods.yaml")
    assert flagged(findings, "IST0173") == {"DestinationRule ai-services/ai-model-by-zone"}
    (finding,) = [f for f in findings if f.code == "IST0173"]
    assert 'subset "v3-us-east-1a"' in finding.message and "app=ai-model,version=v3 " in finding.message
