"""ServedModel: one model's objects, composable in any chart and checked at synth."""
from __future__ import annotations

import cdk8s
import pytest

from conftest import kinds, one
from constructs import Construct
from model_serving import FleetGateway, Model, ServedModel
from model_serving.fleet.environment import Tls

VERSIONS = {"v1": {"image": "registry/chat:1", "weight": 90}, "v2": {"image": "registry/chat:2", "weight": 10}}


def _gateway(scope: Construct, hosts: tuple[str, ...] = ("chat.example.com",)) -> FleetGateway:
    return FleetGateway(scope, "Gateway", name="gw", namespace="ai", hosts=list(hosts), tls=Tls(credential_name="tls"))


def test_a_served_model_holds_every_object_of_the_model_in_apply_order(synth) -> None:
    objects = synth(lambda c: ServedModel(c, "chat", name="chat", namespace="ai", spec=Model(versions=VERSIONS)))
    assert kinds(objects) == [
        "ServiceAccount", "Deployment", "PodDisruptionBudget", "Deployment", "PodDisruptionBudget",
        "Service", "DestinationRule", "AuthorizationPolicy", "NetworkPolicy", "VirtualService",
    ]
    routes = one(objects, "VirtualService")["spec"]
    assert routes["hosts"] == ["chat.ai.svc.cluster.local"] and routes["gateways"] == ["mesh"]
    assert [(d["destination"]["subset"], d["weight"]) for d in routes["http"][-1]["route"]] == [("v1", 90), ("v2", 10)]


def test_children_have_plain_ids_and_the_service_is_the_resource() -> None:
    chart = cdk8s.Testing.chart()
    model = ServedModel(chart, "chat", name="chat", namespace="ai", spec=Model(versions=VERSIONS))
    assert [c.node.id for c in model.node.children] == [
        "ServiceAccount", "v1", "v2", "Resource", "DestinationRule", "Access", "Routes",
    ]
    assert all("." not in c.node.id for c in chart.node.find_all())
    assert model.node.default_child is not None


def test_a_served_model_composes_beside_a_users_own_objects(synth) -> None:
    def build(chart: Construct) -> None:
        cdk8s.ApiObject(chart, "Config", api_version="v1", kind="ConfigMap", metadata=cdk8s.ApiObjectMetadata(name="team"))
        ServedModel(chart, "chat", name="chat", namespace="ai", spec=Model(host="chat.example.com", versions=VERSIONS),
                    gateway=_gateway(chart))

    objects = synth(build)
    assert kinds(objects)[:2] == ["ConfigMap", "ServiceAccount"]  # then the gateway's pods and its Gateway
    mesh, edge = one(objects, "VirtualService", "chat")["spec"], one(objects, "VirtualService", "chat-edge")["spec"]
    assert mesh["gateways"] == ["mesh"] and mesh["exportTo"] == ["."]
    assert (edge["gateways"], edge["hosts"], edge["exportTo"]) == (["ai/gw"], ["chat.example.com"], ["."])


def test_fails_when_a_code_built_model_host_is_not_on_the_gateway() -> None:
    chart = cdk8s.Testing.chart()
    ServedModel(chart, "chat", name="chat", namespace="ai", spec=Model(host="other.example.com", versions=VERSIONS),
                gateway=_gateway(chart))
    with pytest.raises(RuntimeError, match="host other.example.com is not among the hosts of Gateway ai/gw"):
        cdk8s.Testing.synth(chart)


def test_fails_when_two_code_built_models_claim_one_host() -> None:
    chart = cdk8s.Testing.chart()
    gateway = _gateway(chart)
    for name in ("chat", "chat-b"):
        ServedModel(chart, name, name=name, namespace="ai", spec=Model(host="chat.example.com", versions=VERSIONS),
                    gateway=gateway)
    with pytest.raises(RuntimeError, match="chat.example.com is already routed by test/chat"):
        cdk8s.Testing.synth(chart)


def test_fails_when_a_host_has_no_gateway() -> None:
    with pytest.raises(ValueError, match="has host chat.example.com but no gateway"):
        ServedModel(cdk8s.Testing.chart(), "chat", name="chat", namespace="ai",
                    spec=Model(host="chat.example.com", versions=VERSIONS))
