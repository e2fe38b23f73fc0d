"""What each proxy receives, by istiod's visibility rules: our objects reach only the proxies that call them."""
from __future__ import annotations

import importlib.util
import sys
from functools import cache
from typing import Any

from helpers import ROOT, load_yaml, objects_of, synth_data
from model_serving.checks.visibility import Proxy, Received, exported, received, unscoped

NS = "ai-fleet"  # the namespace of examples/fleet.yaml, which the generated fleets copy


def _service(name: str, namespace: str, export_to: str | None = None, port: str = "http") -> dict[str, Any]:
    annotations = {"networking.istio.io/exportTo": export_to} if export_to else {}
    return {"kind": "Service", "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
            "spec": {"ports": [{"name": port, "port": 80}]}}


def _rule(host: str, namespace: str, subsets: int, export_to: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"host": host, "subsets": [{"name": f"v{i}"} for i in range(subsets)]}
    if export_to:
        spec["exportTo"] = export_to
    return {"kind": "DestinationRule", "metadata": {"name": host.split(".")[0], "namespace": namespace}, "spec": spec}


def test_export_to_follows_istio() -> None:
    assert exported(None, "a", "b") and exported(["*"], "a", "b")
    assert exported(["."], "a", "a") and not exported(["."], "a", "b")
    assert exported([".", "b"], "a", "b") and not exported(["~"], "a", "a")


def test_clusters_count_ports_and_subsets_of_visible_services() -> None:
    objects = [_service("m", "a", ".,b"), _rule("m.a.svc.cluster.local", "a", 3, [".", "b"]), _service("open", "c")]
    assert received(objects, Proxy("a"), namespaces=["a"]) == Received(5, 2, 2, 4, 1)
    assert received(objects, Proxy("b"), namespaces=["a"]).foreign_clusters == 4
    assert received(objects, Proxy("z"), namespaces=["a"]) == Received(1, 1, 1, 0, 0)


def test_a_sidecar_narrows_what_its_namespace_sees_but_not_gateways() -> None:
    sidecar = {"kind": "Sidecar", "metadata": {"name": "default", "namespace": "a"},
               "spec": {"egress": [{"hosts": ["./*", "istio-system/*"]}]}}
    objects = [sidecar, _service("m", "a"), _service("istiod", "istio-system"), _service("other", "c")]
    assert received(objects, Proxy("a")).clusters == 2
    assert received(objects, Proxy("a", gateway=True)).clusters == 3
    assert received(objects, Proxy("c")).clusters == 3


def test_gateway_routes_respect_server_host_namespaces() -> None:
    gateway = {"kind": "Gateway", "metadata": {"name": "gw", "namespace": "a"},
               "spec": {"selector": {"istio": "gw"}, "servers": [{"hosts": ["a/x.example.com"]}]}}

    def vs(namespace: str) -> dict[str, Any]:
        return {"kind": "VirtualService", "metadata": {"name": "r", "namespace": namespace},
                "spec": {"hosts": ["x.example.com"], "gateways": ["a/gw"], "http": [{"name": "catch-all"}]}}

    proxy = Proxy("a", (("istio", "gw"),), gateway=True)
    assert received([gateway, vs("a")], proxy).routes == 1
    assert received([gateway, vs("intruder")], proxy).routes == 0  # `a/host`: only VirtualServices of a
    unscoped_gateway = {**gateway, "spec": {**gateway["spec"], "servers": [{"hosts": ["x.example.com"]}]}}
    assert received([unscoped_gateway, vs("intruder")], proxy).routes == 1  # a bare host is */host


@cache
def _generated(models: int) -> list[dict[str, Any]]:
    """The bench's generated fleet (examples/fleet.yaml's llm and fraud-detector, 3 versions each), synthesized."""
    spec = importlib.util.spec_from_file_location("bench_synth", ROOT / "bench" / "synth.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_synth"] = module  # dataclasses resolve their module while the file loads
    spec.loader.exec_module(module)
    return objects_of(synth_data(module.generate_fleet(models, versions=3))[1])


def _proxies(objects: list[dict[str, Any]]) -> dict[str, Proxy]:
    [gateway] = [d for d in objects if d["kind"] == "Deployment"
                 and d["spec"]["template"]["metadata"].get("annotations", {}).get("inject.istio.io/templates") == "gateway"]
    labels = tuple(sorted(gateway["spec"]["template"]["metadata"]["labels"].items()))
    return {"fleet": Proxy(NS), "gateway": Proxy(NS, labels, gateway=True), "unrelated": Proxy("unrelated")}


def visibility_report(models: int = 200) -> dict[str, tuple[Received, Received]]:
    """For the bench: (scoped, unscoped) for the fleet's pods, its gateway and an unrelated proxy."""
    objects = _generated(models)
    before = unscoped(objects)
    return {name: (received(objects, p, namespaces=[NS]), received(before, p, namespaces=[NS]))
            for name, p in _proxies(objects).items()}


def test_200_models_reach_only_their_own_namespace_and_gateway() -> None:
    report = visibility_report(200)
    fleet, gateway, unrelated = (report[k][0] for k in ("fleet", "gateway", "unrelated"))
    # 200 Services of 1 port and 3 subsets each (800 clusters), and the gateway's Service (2 ports).
    assert fleet.foreign_clusters == gateway.foreign_clusters == 802
    # A proxy of any other namespace gets none of it; unscoped, it got all of it.
    assert (unrelated.foreign_clusters, unrelated.foreign_routes, unrelated.virtual_hosts) == (0, 0, 0)
    assert report["unrelated"][1].foreign_clusters == 802
    # The external hosts are bound to the gateway only: sidecars hold one virtual host per model.
    assert fleet.virtual_hosts == 200 and gateway.virtual_hosts == 101  # 100 llm hosts + the shared api host


def test_a_shared_gateway_elsewhere_still_receives_the_models_it_serves() -> None:
    data = load_yaml(ROOT / "serving.yaml")
    gateway = data["environments"]["production"]["gateway"]
    gateway["workload"] = {"namespace": "istio-ingress", "serviceAccount": "istio-ingress", "selector": {"istio": "ingress"}}
    gateway["tls"]["httpsRedirect"] = True
    objects = objects_of(synth_data(data)[1])
    shared = received(objects, Proxy("istio-ingress", (("app", "istio-ingress"), ("istio", "ingress")), gateway=True),
                      namespaces=["ai-services"])
    # ai-model: 1 port + 2 subsets; the edge route and the port-80 redirect.
    assert (shared.foreign_clusters, shared.foreign_routes) == (3, 2)
    # Other proxies of that namespace see the Service (a default route) but none of our VirtualServices.
    assert received(objects, Proxy("istio-ingress"), namespaces=["ai-services"]).foreign_routes == 1
