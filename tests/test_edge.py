"""Edge and tenancy: version pinning limited to the mesh or a JWT claim, cluster-level settings, scoping."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from helpers import by_kind, objects_of, synth_data
from model_serving.commands.trafficmap import match_lines
from model_serving.fleet.load import ConfigError, parse_fleet
from model_serving.fleet.routes import plan_routes

ISSUER = "https://auth.example.com/"
PIN = {"name": "pinned", "match": {"headers": {"x-model-version": "v2"}}, "version": "v2"}


def _fleet(base: dict, **route: Any) -> dict:
    data = copy.deepcopy(base)
    model = data["models"]["ai-model"]
    model["versions"]["v1"]["weight"], model["versions"]["v2"]["weight"] = 100, 0
    model["routes"] = [{**PIN, **route}]
    return data


def _vs(objects: list[dict], name: str) -> dict:
    [vs] = [v for v in by_kind(objects, "VirtualService") if v["metadata"]["name"] == name]
    return vs


def _routes(objects: list[dict], name: str) -> list[str]:
    return [r["name"] for r in _vs(objects, name)["spec"]["http"]]


def _error(data: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_fleet(data, source="serving.yaml")
    message = str(caught.value)
    assert "\n" not in message and "; fix: " in message, message
    return message


# --- item 3: version pinning is not a public backdoor ---------------------------------------------


def test_synth_warns_when_any_client_can_pin_a_weight_0_version(base_config: dict) -> None:
    fleet, outputs = synth_data(_fleet(base_config))
    assert [w for w in fleet.warnings if "weight-0 version v2" in w] == [
        "test.yaml: production: models.ai-model.routes[0] (pinned): any client through the gateway can pick weight-0 "
        "version v2 by setting the matched header, cookie, query or path; add from: mesh or jwtClaim: {name, value} "
        "(or from: anyone if it is meant to be public)"
    ]
    assert _routes(objects_of(outputs), "ai-model-edge") == ["pinned", "default"]


@pytest.mark.parametrize("route", [{"from": "mesh"}, {"from": "anyone"}])
def test_no_warning_once_the_audience_is_declared(base_config: dict, route: dict) -> None:
    data = _fleet(base_config, **route)
    data["environments"]["production"]["jwt"] = {"issuer": ISSUER, "jwksUri": f"{ISSUER}jwks.json"}
    assert parse_fleet(data).warnings == []


def test_no_warning_for_a_live_version_or_a_mesh_only_model(base_config: dict) -> None:
    live = _fleet(base_config)
    live["models"]["ai-model"]["versions"]["v2"]["weight"] = 10
    live["models"]["ai-model"]["versions"]["v1"]["weight"] = 90
    assert parse_fleet(live).warnings == []
    mesh_only = _fleet(base_config)
    del mesh_only["models"]["ai-model"]["host"]
    assert parse_fleet(mesh_only).warnings == []


def test_a_mesh_only_route_is_never_offered_by_the_gateway(base_config: dict) -> None:
    objects = objects_of(synth_data(_fleet(base_config, **{"from": "mesh"}))[1])
    assert _routes(objects, "ai-model") == ["pinned", "default"]
    assert _routes(objects, "ai-model-edge") == ["default"]


def test_a_claim_route_matches_the_validated_token_at_the_gateway_only(base_config: dict) -> None:
    data = _fleet(base_config, jwtClaim={"name": "groups", "value": "early-access"})
    data["environments"]["production"]["jwt"] = {"issuer": ISSUER, "jwksUri": f"{ISSUER}jwks.json"}
    fleet, outputs = synth_data(data)
    objects = objects_of(outputs)
    assert fleet.warnings == []
    assert _routes(objects, "ai-model") == ["default"]  # no JWT is validated on mesh calls
    [pinned, _] = _vs(objects, "ai-model-edge")["spec"]["http"]
    assert pinned["match"] == [{"headers": {
        "@request.auth.claims.groups": {"exact": "early-access"}, "x-model-version": {"exact": "v2"},
    }}]
    # The fleet's gateway pods are in the namespace, so the namespace-wide RequestAuthentication
    # validates tokens there: istiod then has the claims to match on.
    [auth] = by_kind(objects, "RequestAuthentication")
    assert "selector" not in auth["spec"] and auth["metadata"]["namespace"] == "ai-services"


@pytest.mark.parametrize(("change", "message"), [
    ({"jwtClaim": {"name": "groups", "value": "beta"}},
     "serving.yaml: models.ai-model.routes[0].jwtClaim: only the gateway validates tokens, and it needs "
     "environments.production.jwt; fix: set it, or use from: mesh"),
    ({"jwtClaim": {"name": "groups", "value": "beta"}, "from": "mesh"}, "sets both from and jwtClaim; fix: keep one"),
    ({"jwtClaim": {"name": "a..b", "value": "beta"}}, "jwtClaim.name"),
    ({"from": "internet"}, "routes[0].from"),
])
def test_fails_when_a_limited_route_cannot_work(base_config: dict, change: dict, message: str) -> None:
    assert message in _error(_fleet(base_config, **change))


def test_a_claim_route_behind_a_shared_gateway_is_warned_about(base_config: dict) -> None:
    data = _fleet(base_config, jwtClaim={"name": "groups", "value": "beta"})
    data["environments"]["production"]["jwt"] = {"issuer": ISSUER, "jwksUri": f"{ISSUER}jwks.json"}
    data["environments"]["production"]["gateway"]["workload"] = {
        "namespace": "istio-ingress", "serviceAccount": "istio-ingress", "selector": {"istio": "ingress"},
    }
    [warning] = parse_fleet(data).warnings
    assert "shared gateway in istio-ingress validates tokens of https://auth.example.com/" in warning


def test_fails_when_the_own_gateway_would_clash_with_a_model(base_config: dict) -> None:
    base_config["environments"]["production"]["gateway"]["name"] = "ai-model"
    assert "gateway is also named ai-model" in _error(base_config)


# --- item 15: cluster-level settings ----------------------------------------------------------


def test_revision_injection_and_cluster_domain_are_configurable(base_config: dict) -> None:
    env = base_config["environments"]["production"]
    env.update(istioRevision="1-30-3", clusterDomain="corp.internal")
    objects = objects_of(synth_data(base_config)[1])
    [namespace] = by_kind(objects, "Namespace")
    assert namespace["metadata"]["labels"]["istio.io/rev"] == "1-30-3"
    assert "istio-injection" not in namespace["metadata"]["labels"]
    [rule] = by_kind(objects, "DestinationRule")
    assert rule["spec"]["host"] == "ai-model.ai-services.svc.corp.internal"
    hosts = {h for vs in by_kind(objects, "VirtualService") for h in vs["spec"]["hosts"]}
    hosts |= {r["destination"]["host"] for vs in by_kind(objects, "VirtualService") for h in vs["spec"]["http"]
              for r in h.get("route", [])}
    assert "ai-model.ai-services.svc.corp.internal" in hosts and not any(h.endswith("cluster.local") for h in hosts)
    [gateway_pods] = [d for d in by_kind(objects, "Deployment") if d["metadata"]["name"] == "ai-model-gateway"]
    assert gateway_pods["spec"]["template"]["metadata"]["labels"]["istio.io/rev"] == "1-30-3"


@pytest.mark.parametrize(("field", "value"), [
    ("clusterDomain", "Cluster.Local"), ("clusterDomain", "cluster.local."), ("istioRevision", "1.30"),
    ("egress", ["vectors"]), ("egress", ["vectors/a b"]),
])
def test_fails_on_malformed_cluster_settings(base_config: dict, field: str, value: Any) -> None:
    base_config["environments"]["production"][field] = value
    assert f"environments.production.{field}" in _error(base_config)


# --- item 19: scoped configuration --------------------------------------------------------------


def test_objects_are_exported_to_the_namespaces_that_call_them(base_config: dict) -> None:
    env = base_config["environments"]["production"]
    env["egress"] = ["vectors/*", "*/api.example.net"]
    base_config["models"]["ai-model"]["consumers"] = [{"namespace": "apps"}, {"namespace": "ai-services"}]
    objects = objects_of(synth_data(base_config)[1])
    services = {s["metadata"]["name"]: s for s in by_kind(objects, "Service")}
    assert services["ai-model"]["metadata"]["annotations"] == {"networking.istio.io/exportTo": ".,apps"}
    assert services["ai-model-gateway"]["metadata"]["annotations"] == {"networking.istio.io/exportTo": "."}
    [rule] = by_kind(objects, "DestinationRule")
    assert rule["spec"]["exportTo"] == [".", "apps"]
    assert _vs(objects, "ai-model")["spec"]["exportTo"] == [".", "apps"]
    assert _vs(objects, "ai-model-edge")["spec"]["exportTo"] == ["."]
    [sidecar] = by_kind(objects, "Sidecar")
    assert sidecar["spec"] == {"egress": [{"hosts": ["./*", "istio-system/*", "vectors/*", "*/api.example.net"]}]}


def test_the_traffic_map_says_who_may_take_a_limited_route(example) -> None:
    fleet, _ = example("ab-test")
    routes = {r.name: r for r in plan_routes("recommender", fleet.environments["production"].models["recommender"])}
    assert match_lines(routes["pinned-version"]) == ["header x-model-version = v2", "in-mesh callers only"]
    assert match_lines(routes["beta-cohort"]) == [
        "header x-user-cohort = beta", "token claim cohort = beta", "through the gateway only"]
