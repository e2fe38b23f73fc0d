"""Service and Namespace checks: port names, selectors, sidecar injection."""

from __future__ import annotations

import pytest

from helpers import ANALYZE_FIXTURES as FIXTURES
from helpers import analyzer_findings as findings_for
from helpers import flagged
from model_serving.checks.analyze import analyze, load_manifests

# --- 6. Service ports and selectors ---------------------------------------------------------


def test_protocol_named_ports_app_protocol_and_job_selector_pass() -> None:
    assert findings_for("service_pass.yaml") == []


def test_reports_IST0118_when_port_is_not_named_by_protocol() -> None:
    findings = findings_for("service_port_names.yaml")
    assert flagged(findings, "IST0118") == {"Service ai-services/ai-model-metrics"}
    # "metrics" and the unnamed port are reported; "http" is fine.
    heads = sorted(f.message.split(", targetPort")[0] for f in findings if f.code == "IST0118")
    assert heads == ['port "metrics" (port 9090', "port (unnamed) (port 9091"]
    assert {f.level for f in findings if f.code == "IST0118"} == {"Info"}


def test_reports_IST0127_when_service_selector_matches_no_workload() -> None:
    findings = findings_for("service_selector_no_pods.yaml")
    assert flagged(findings, "IST0127") == {"Service ai-services/ai-model-gpu"}
    assert any("accelerator=gpu,app=ai-model" in f.message for f in findings if f.code == "IST0127")


def test_services_with_ports_headless_and_external_name_pass() -> None:
    assert findings_for("service_without_ports_pass.yaml") == []


def test_reports_MS1008_when_service_has_no_ports() -> None:
    findings = findings_for("service_without_ports.yaml")
    assert flagged(findings, "MS1008") == {"Service ai-services/ai-model-next", "Service ai-services/ai-model-headless"}
    assert {f.level for f in findings if f.code == "MS1008"} == {"Error"}
    assert any("admits it (headless)" in f.message for f in findings)


def _service_in_other(*extra: dict) -> list[dict]:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "ai-model", "namespace": "other"},
        "spec": {"selector": {"app": "ai-model"}, "ports": [{"name": "http", "port": 8080}]},
    }
    return [*load_manifests([FIXTURES / "base.yaml"]), service, *extra]


def test_selector_does_not_match_workloads_of_another_namespace() -> None:
    batch = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "batch", "namespace": "other", "labels": {"app": "batch"}}}
    assert flagged(analyze(_service_in_other(batch)), "IST0127") == {"Service other/ai-model"}


def test_selector_is_not_judged_without_workloads_of_its_namespace_in_the_input() -> None:
    # The pods of namespace other are in files not given: absence proves nothing (istioctl skips it too).
    assert flagged(analyze(_service_in_other()), "IST0127") == set()


# --- 7. Namespace injection -----------------------------------------------------------------


def test_injected_revisioned_ambient_opted_out_system_and_foreign_namespaces_pass() -> None:
    assert findings_for("namespace_injection_pass.yaml", base=False) == []


def test_reports_IST0102_for_every_namespace_without_injection_labels() -> None:
    findings = findings_for("namespace_not_injected.yaml", base=False)
    assert flagged(findings, "IST0102") == {"Namespace ai-services", "Namespace empty", "Namespace blank"}
    assert {f.level for f in findings if f.code == "IST0102"} == {"Info"}


def test_reports_IST0123_when_namespace_has_both_injection_labels() -> None:
    findings = findings_for("namespace_multiple_injection_labels.yaml", base=False)
    assert flagged(findings, "IST0123") == {"Namespace ai-services"}
    assert flagged(findings, "IST0102") == set()


@pytest.mark.parametrize(
    ("labels", "reported"),
    [
        ({}, True),
        ({"istio-injection": ""}, True),
        ({"istio-injection": "true"}, False),  # not "enabled": a deliberate opt-out to istioctl
        ({"istio.io/rev": ""}, False),
        ({"istio.io/dataplane-mode": "ambient"}, False),
    ],
)
def test_fails_when_injection_label_is_missing(labels: dict[str, str], reported: bool) -> None:
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models", "labels": labels}}]
    assert flagged(analyze(objects), "IST0102") == ({"Namespace models"} if reported else set())


@pytest.mark.parametrize(
    ("labels", "reported"),
    [
        ({"istio-injection": "enabled", "istio.io/rev": "canary"}, True),
        ({"istio-injection": "enabled", "istio.io/dataplane-mode": "ambient"}, True),
        ({"istio.io/rev": "canary", "istio.io/dataplane-mode": "ambient"}, True),
        ({"istio-injection": "disabled", "istio.io/rev": "canary"}, False),  # the opt-out wins, as in istioctl
    ],
)
def test_reports_IST0123_as_istioctl_counts_injection_labels(labels: dict[str, str], reported: bool) -> None:
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models", "labels": labels}}]
    assert flagged(analyze(objects), "IST0123") == ({"Namespace models"} if reported else set())
