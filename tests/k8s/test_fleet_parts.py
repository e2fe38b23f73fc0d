"""FleetNamespace, FleetGateway, ModelAccess, ModelDestinationRule, ModelRoutes and the chart."""
from __future__ import annotations

import cdk8s
import pytest

from conftest import kinds, one
from helpers import ROOT
from model_serving import ModelServingChart, load_fleet
from model_serving.fleet.environment import Jwt, Tls
from model_serving.fleet.resilience import ConsistentHash, LoadBalancer
from model_serving.fleet.routes import Destination, RoutePlan
from model_serving.fleet.traffic import Consumer
from model_serving.k8s.gateway import FleetGateway
from model_serving.k8s.security import FleetNamespace, GatewayIdentity, ModelAccess
from model_serving.k8s.traffic import ModelDestinationRule, ModelRoutes

ISSUER = "https://auth.example.com/"


def test_namespace_is_injected_restricted_and_strict_mtls(synth) -> None:
    objects = synth(lambda c: FleetNamespace(c, "Namespace", name="ai"))
    assert kinds(objects) == ["Namespace", "Sidecar", "PeerAuthentication"]
    labels = one(objects, "Namespace")["metadata"]["labels"]
    assert labels["istio-injection"] == "enabled" and labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert one(objects, "PeerAuthentication")["spec"] == {"mtls": {"mode": "STRICT"}}
    assert one(objects, "Sidecar")["spec"] == {"egress": [{"hosts": ["./*", "istio-system/*"]}]}


def test_namespace_injects_a_revision_and_knows_declared_egress(synth) -> None:
    objects = synth(lambda c: FleetNamespace(c, "Namespace", name="ai", revision="prod-stable", egress=["vectors/*"]))
    labels = one(objects, "Namespace")["metadata"]["labels"]
    assert labels["istio.io/rev"] == "prod-stable" and "istio-injection" not in labels  # both set: istio-injection wins
    assert one(objects, "Sidecar")["spec"] == {"egress": [{"hosts": ["./*", "istio-system/*", "vectors/*"]}]}


def test_namespace_validates_tokens_of_one_issuer(synth) -> None:
    jwt = Jwt(issuer=ISSUER, jwks_uri=f"{ISSUER}jwks.json")
    rule = one(synth(lambda c: FleetNamespace(c, "Namespace", name="ai", jwt=jwt)), "RequestAuthentication")
    assert rule["spec"] == {"jwtRules": [{"issuer": ISSUER, "jwksUri": f"{ISSUER}jwks.json"}]}


def test_gateway_runs_its_pods_serves_https_and_redirects_port_80_with_308(synth) -> None:
    gateways: list[FleetGateway] = []
    objects = synth(lambda c: gateways.append(FleetGateway(
        c, "Gateway", name="gw", namespace="ai", hosts=["a.example.com"], tls=Tls(credential_name="cert", https_redirect=True),
        revision="canary",
    )))
    assert kinds(objects) == ["ServiceAccount", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                              "NetworkPolicy", "Gateway", "Gateway", "VirtualService"]
    ports = [p["port"] for p in one(objects, "NetworkPolicy")["spec"]["ingress"][0]["ports"]]
    assert ports == [80, 443, 15021]  # the redirect needs port 80 open too
    servers = one(objects, "Gateway", "gw")["spec"]["servers"]
    assert [(s["port"]["number"], s["hosts"]) for s in servers] == [(443, ["ai/a.example.com"])]
    assert servers[0]["tls"]["credentialName"] == "cert"
    assert one(objects, "Gateway", "gw-http")["spec"]["servers"][0]["hosts"] == ["ai/a.example.com"]
    assert one(objects, "VirtualService")["spec"]["http"][0]["redirect"] == {"scheme": "https", "redirectCode": 308}
    assert one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]["istio.io/rev"] == "canary"
    [gateway] = gateways
    # What other constructs (e.g. a TrafficExtension) rely on.
    assert (gateway.owned, gateway.namespace, gateway.ref) == (True, "ai", "ai/gw")
    assert gateway.workload.selector == {"app": "gw", "istio": "gw"} and gateway.principal == "cluster.local/ns/ai/sa/gw"


@pytest.mark.parametrize(("props", "message"), [
    ({"hosts": [], "plain_http": True}, "has no hosts"),
    ({"hosts": ["a.example.com"]}, "has no tls"),
])
def test_fails_when_a_gateway_is_incomplete(props: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FleetGateway(cdk8s.Testing.chart(), "Gateway", name="gw", namespace="ai", **props)


def test_access_admits_the_gateway_and_consumers_only(synth) -> None:
    gateway = GatewayIdentity("ingress", "gw-sa", (f"{ISSUER}*",), (("istio", "gw"),))
    objects = synth(lambda c: ModelAccess(c, "Access", app="chat", namespace="ai", port=8000, gateway=gateway,
                                          consumers=[Consumer(namespace="apps", service_account="web")]))
    rules = one(objects, "AuthorizationPolicy")["spec"]["rules"]
    assert rules[0]["from"][0]["source"] == {"principals": ["cluster.local/ns/ingress/sa/gw-sa"],
                                             "requestPrincipals": [f"{ISSUER}*"]}
    assert rules[1]["from"][0]["source"] == {"principals": ["cluster.local/ns/apps/sa/web"]}
    peers = one(objects, "NetworkPolicy")["spec"]["ingress"][0]["from"]
    assert [p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in peers] == ["ingress", "apps"]
    assert peers[0]["podSelector"] == {"matchLabels": {"istio": "gw"}} and "podSelector" not in peers[1]


def test_access_without_callers_admits_nobody(synth) -> None:
    objects = synth(lambda c: ModelAccess(c, "Access", app="chat", namespace="ai", port=8000))
    assert "rules" not in one(objects, "AuthorizationPolicy")["spec"]
    assert one(objects, "NetworkPolicy")["spec"].get("ingress", []) == []


def test_destination_rule_has_a_subset_per_version_and_hashing(synth) -> None:
    balance = LoadBalancer(consistent_hash=ConsistentHash(header="x-session"))
    rule = one(synth(lambda c: ModelDestinationRule(c, "DestinationRule", app="chat", namespace="ai", host="chat.ai.svc",
                                                     versions=["v1", "v2"], load_balancer=balance)), "DestinationRule")
    assert [s["name"] for s in rule["spec"]["subsets"]] == ["v1", "v2"]
    assert rule["spec"]["trafficPolicy"]["loadBalancer"] == {"consistentHash": {"httpHeaderName": "x-session"}}
    assert rule["spec"]["trafficPolicy"]["tls"] == {"mode": "ISTIO_MUTUAL"}


def test_prefixed_routes_get_an_edge_virtual_service(synth) -> None:
    plan = RoutePlan(name="default", destinations=(Destination("v1", 100),))
    objects = synth(lambda c: ModelRoutes(c, "Routes", app="chat", namespace="ai", host="chat.ai.svc", port=80,
                                          routes=[plan], external_host="api.example.com", prefix="/chat/",
                                          gateway="ai/gw"))
    mesh, edge = one(objects, "VirtualService", "chat"), one(objects, "VirtualService", "chat-edge")
    assert mesh["spec"]["gateways"] == ["mesh"]
    assert edge["spec"]["http"][0]["match"] == [{"gateways": ["ai/gw"], "uri": {"prefix": "/chat/"}}]
    assert edge["spec"]["http"][0]["rewrite"] == {"uri": "/"}


def test_the_chart_holds_constructs_not_loose_objects() -> None:
    env = load_fleet(ROOT / "examples" / "fleet.yaml").environments["production"]
    chart = ModelServingChart(cdk8s.App(), "production", env=env)
    loose = [c for c in chart.node.children if isinstance(c, cdk8s.ApiObject)]
    assert loose == []
    assert [c.node.id for c in chart.node.children] == ["Namespace", "Gateway", *sorted(env.models)]
    assert all("." not in c.node.id for c in chart.node.find_all())
