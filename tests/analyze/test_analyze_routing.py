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


def test_fqdn_destination_in_another_namespace_resolves() -> None:
    assert findings_for("vs_destination_cross_namespace_pass.yaml") == []


def test_reports_IST0101_when_another_namespace_is_named_by_a_short_dotted_host() -> None:
    findings = findings_for("vs_destination_cross_namespace_short.yaml")
    assert flagged(findings, "IST0101") == {"VirtualService team-a/llm-proxy"}
    assert sorted(f.message.split(" at ")[0] for f in findings) == [
        'destination host "ai-model.ai-services"',
        'destination host "ai-model.ai-services.svc"',
    ]
    assert all(f.fix.endswith("ai-model.ai-services.svc.cluster.local") for f in findings)


# --- exportTo -------------------------------------------------------------------------------


def test_destinations_exported_to_where_they_are_used_pass() -> None:
    assert findings_for("vs_export_to_pass.yaml") == []


def test_reports_IST0101_and_IST0174_when_exportTo_hides_the_destination() -> None:
    findings = findings_for("vs_export_to_hidden.yaml")
    assert flagged(findings, "IST0101") == {
        "VirtualService team-a/rerank",  # Service exported to "."
        "VirtualService team-a/embed",  # subset's DestinationRule exported to "."
        "VirtualService team-a/anthropic-egress",  # ServiceEntry exported to "."
        "VirtualService ai-services/sealed",  # Service exported to "~"
        "VirtualService ai-services/rerank-everywhere",  # VirtualService exported to "*"
    }
    assert flagged(findings, "IST0174") == {"DestinationRule team-a/reranker"}
    messages = {f.resource: f.message for f in findings}
    assert "exported (networking.istio.io/exportTo) to ai-services, not to team-a" in messages["VirtualService team-a/rerank"]
    embed = messages["VirtualService team-a/embed"]
    assert "DestinationRule ai-services/embedder defines it but is not exported to team-a" in embed
    assert "ServiceEntry ai-services/anthropic declares it" in messages["VirtualService team-a/anthropic-egress"]
    assert "to no namespace (~)" in messages["VirtualService ai-services/sealed"]


@pytest.mark.parametrize(
    ("export_to", "conflict"),
    [
        (None, True),
        (["*"], True),
        (["ai-services"], True),
        (["."], True),
        (["team-a"], False),
        (["~"], False),  # seen by no sidecar: meets nothing
    ],
)
def test_mesh_host_conflicts_follow_exportTo(export_to: list[str] | None, conflict: bool) -> None:
    objects = load_manifests([FIXTURES / "base.yaml"])
    # ai-model is private to ai-services; ai-model-canary's exportTo decides whether they meet.
    for name, scope in (("ai-model", ["."]), ("ai-model-canary", export_to)):
        spec: dict = {"hosts": ["ai-model"], "http": [{"route": [{"destination": {"host": "ai-model"}}]}]}
        if scope is not None:
            spec["exportTo"] = scope
        objects.append(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "VirtualService",
                "metadata": {"name": name, "namespace": "ai-services"},
                "spec": spec,
            }
        )
    assert bool(flagged(analyze(objects), "IST0109")) is conflict


# --- partial input --------------------------------------------------------------------------


def test_reports_MS1007_not_IST0101_when_the_host_namespace_is_not_in_the_input() -> None:
    findings = findings_for("vs_destination_outside_input.yaml")
    assert {(f.code, f.level, f.resource) for f in findings} == {
        ("MS1007", "Info", "VirtualService ai-services/llm-proxy"),
        ("MS1007", "Info", "DestinationRule ai-services/llm"),
    }
    assert all("Service llm of namespace models" in f.message for f in findings)


def test_host_in_a_namespace_of_the_input_is_checked() -> None:
    assert findings_for("vs_destination_outside_input_pass.yaml") == []


def test_reports_IST0101_when_the_namespace_is_given_but_the_service_is_not() -> None:
    # Once namespace models is described, a Service of it that is not there does not exist.
    objects = load_manifests([FIXTURES / "base.yaml", FIXTURES / "vs_destination_outside_input.yaml"])
    models = {"name": "models", "labels": {"istio-injection": "enabled"}}
    objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": models})
    findings = analyze(objects)
    assert flagged(findings, "IST0101") == {"VirtualService ai-services/llm-proxy"}
    assert flagged(findings, "IST0174") == {"DestinationRule ai-services/llm"}
    assert flagged(findings, "MS1007") == set()


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


# --- unbound gateways -----------------------------------------------------------------------


def test_gateway_listed_in_top_level_gateways_is_bound() -> None:
    assert findings_for("gateway_not_bound_pass.yaml") == []


def test_reports_MS1009_when_no_virtual_service_binds_the_gateway() -> None:
    findings = findings_for("gateway_not_bound.yaml")
    # match[].gateways does not attach a VirtualService to a Gateway: only the top-level list does.
    assert flagged(findings, "MS1009") == {"Gateway ai-services/chat-gateway"}
    (finding,) = findings
    assert finding.level == "Warning" and "404 for ai-services/chat.example.com" in finding.message


def test_gateways_are_not_judged_without_any_virtual_service_in_the_input() -> None:
    objects = [o for o in load_manifests([FIXTURES / "base.yaml"]) if o["kind"] != "VirtualService"]
    assert flagged(analyze(objects), "MS1009") == set()
