"""The brief done right: what dist/ must contain for ai-model's 90/10 canary."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from helpers import ROOT, assert_apply_order, assert_invariants, by_kind, model_deployments, objects_of


def test_constructs_library_is_not_shadowed_by_the_source_root() -> None:
    import constructs

    assert not (ROOT / "constructs" / "__init__.py").exists()
    assert hasattr(constructs, "Construct")
    origin = Path(importlib.util.find_spec("constructs").origin or "")
    assert "site-packages" in origin.parts, origin


def test_brief_objects_have_the_human_names(reference) -> None:
    objects = objects_of(reference[1])
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for expected in [
        ("Namespace", "ai-services"),
        ("Deployment", "ai-model-v1"),
        ("Deployment", "ai-model-v2"),
        ("ServiceAccount", "ai-model"),
        ("Service", "ai-model"),
        ("DestinationRule", "ai-model"),
        ("VirtualService", "ai-model"),
        ("Gateway", "ai-model-gateway"),
    ]:
        assert expected in names


def test_no_hash_suffix_or_construct_address_anywhere(reference) -> None:
    text = "".join(out.text for out in reference[1])
    assert "cdk8s.io/metadata.addr" not in text
    for obj in objects_of(reference[1]):
        assert not re.search(r"-[0-9a-f]{8}$", obj["metadata"]["name"]), obj["metadata"]["name"]


def test_namespace_is_injected_and_first(reference) -> None:
    objects = objects_of(reference[1])
    assert objects[0]["kind"] == "Namespace"
    assert objects[0]["metadata"]["labels"]["istio-injection"] == "enabled"
    assert "namespace" not in objects[0]["metadata"]


def test_deployments_carry_app_and_version_labels_and_a_port(reference) -> None:
    for dep in model_deployments(objects_of(reference[1])):
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert labels == {"app": "ai-model", "version": dep["metadata"]["name"].rsplit("-", 1)[1]}
        assert dep["spec"]["selector"]["matchLabels"] == labels
        container = dep["spec"]["template"]["spec"]["containers"][0]
        assert container["ports"] == [{"containerPort": 8080, "name": "http"}]
        assert dep["spec"]["template"]["spec"]["serviceAccountName"] == "ai-model"


def test_service_selects_every_version_on_a_named_http_port(reference) -> None:
    (svc,) = [s for s in by_kind(objects_of(reference[1]), "Service") if s["metadata"]["name"] == "ai-model"]
    assert svc["spec"]["selector"] == {"app": "ai-model"}
    (port,) = svc["spec"]["ports"]
    assert port["name"] == "http" and port["appProtocol"] == "http"


def test_virtual_services_bind_mesh_and_gateway_apart_with_90_10(reference) -> None:
    mesh, edge = by_kind(objects_of(reference[1]), "VirtualService")
    assert mesh["apiVersion"] == edge["apiVersion"] == "networking.istio.io/v1"
    assert (mesh["spec"]["gateways"], mesh["spec"]["hosts"]) == (["mesh"], ["ai-model.ai-services.svc.cluster.local"])
    # The external host is bound to the gateway alone: no sidecar of the mesh carries it.
    assert (edge["spec"]["gateways"], edge["spec"]["hosts"]) == (["ai-services/ai-model-gateway"], ["ai-model.example.com"])
    for vs in (mesh, edge):
        (route,) = vs["spec"]["http"]
        assert [(d["destination"]["subset"], d["weight"]) for d in route["route"]] == [("v1", 90), ("v2", 10)]


def test_destination_rule_uses_fqdn_host_and_version_subsets(reference) -> None:
    (dr,) = by_kind(objects_of(reference[1]), "DestinationRule")
    assert dr["spec"]["host"] == "ai-model.ai-services.svc.cluster.local"
    assert [(s["name"], s["labels"]) for s in dr["spec"]["subsets"]] == [
        ("v1", {"version": "v1"}),
        ("v2", {"version": "v2"}),
    ]


def test_gateway_selects_its_own_pods_and_serves_the_scoped_external_host_on_443(reference) -> None:
    (gw,) = by_kind(objects_of(reference[1]), "Gateway")
    assert gw["spec"]["selector"] == {"app": "ai-model-gateway", "istio": "ai-model-gateway"}
    ports = {s["port"]["number"]: s for s in gw["spec"]["servers"]}
    assert list(ports) == [443] and ports[443]["hosts"] == ["ai-services/ai-model.example.com"]


def test_istio_kinds_are_v1(reference) -> None:
    for obj in objects_of(reference[1]):
        if ".istio.io/" in obj["apiVersion"]:
            assert obj["apiVersion"].endswith("/v1"), obj["apiVersion"]


def test_reference_output_keeps_the_invariants_and_apply_order(reference) -> None:
    objects = objects_of(reference[1])
    assert_invariants(objects)
    assert_apply_order(objects)


def test_no_argo_cd_sync_wave_holds_routes_back_behind_deployments(reference) -> None:
    # A later wave waits for every earlier one to be healthy: a weight-only rollback must not wait
    # behind the unhealthy Deployment it rolls back from (make-before-break is guard.py's two steps).
    for obj in objects_of(reference[1]):
        assert "argocd.argoproj.io/sync-wave" not in obj["metadata"].get("annotations", {}), obj["kind"]
