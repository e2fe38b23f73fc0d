"""One OpenAI-compatible endpoint for many models: a TrafficExtension (Lua) and one VirtualService.

The Lua runs in the fleet's gateway: it copies the JSON body's `model` (and `stream`) into
headers, and the VirtualService matches each served name exactly, behind which every model keeps
its own routes (canary weights, A/B rules, mirror, sticky cohorts, timeouts). No controller.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import cdk8s

from constructs import Construct
from imports.io.istio import extensions
from imports.io.istio import networking as istio
from model_serving.fleet.model import Model
from model_serving.fleet.openai import MODEL_HEADER, STREAM_HEADER, OpenAi, ServedAs, served_names
from model_serving.fleet.routes import RoutePlan, edge_routes, plan_routes
from model_serving.fleet.traffic import StringMatch
from model_serving.k8s.gateway import FleetGateway
from model_serving.k8s.model import export_to
from model_serving.k8s.traffic import http_route

LUA = Path(__file__).with_name("openai_router.lua")
APP = "openai"


UNKNOWN_MODEL = "the model named in the request is not served here (GET /v1/models lists them)"


def router_lua(*, host: str, body_limit: int) -> str:
    """The Lua filter's source for one OpenAI host and body limit (bytes), its headers and errors filled in."""
    values = {
        "__HOST__": host.lower(), "__LIMIT__": str(body_limit),
        "__MODEL_HEADER__": MODEL_HEADER, "__STREAM_HEADER__": STREAM_HEADER,
        "__TOO_LARGE__": error_body(f"the request body is larger than {body_limit} bytes", "request_too_large"),
        "__NO_MODEL__": error_body("the body must be a JSON object with a model field"),
        "__UNKNOWN_MODEL__": error_body(UNKNOWN_MODEL),
    }
    return re.sub(r"__[A-Z_]+__", lambda m: values[m.group(0)], LUA.read_text(encoding="utf-8"))


def error_body(message: str, code: str = "model_not_found") -> str:
    """An OpenAI-style error, which the OpenAI SDKs raise as their own exception types."""
    error = {"message": message, "type": "invalid_request_error", "param": "model", "code": code}
    return json.dumps({"error": error}, separators=(",", ":"))


def models_list(names: Sequence[ServedAs]) -> str:
    """`GET /v1/models` in OpenAI's list format; an adapter names its base model as `parent`."""
    data = [
        {"id": n.name, "object": "model", "created": 0, "owned_by": "model-serving", **({"parent": n.model} if n.adapter else {})}
        for n in names
    ]
    return json.dumps({"object": "list", "data": data}, separators=(",", ":"))


def served_routes(served: Sequence[ServedAs], plans: Mapping[str, Sequence[RoutePlan]]) -> list[tuple[str, RoutePlan]]:
    """Each served name's copy of its model's routes, matched on the model header, as (model, route).

    Every route is preceded by its streaming twin (`"stream": true`): the same match plus the
    stream header, and no route timeout, so a long generation is never cut by the model's timeout.
    """
    out: list[tuple[str, RoutePlan]] = []
    for name in served:
        for plan in plans[name.model]:
            named = replace(plan, name=f"{name.name}.{plan.name}",
                            headers={**plan.headers, MODEL_HEADER: StringMatch(exact=name.name)})
            stream = replace(named, name=f"{named.name}.stream", timeout=None,
                             headers={**named.headers, STREAM_HEADER: StringMatch(exact="true")})
            out.extend([(name.model, stream), (name.model, named)])
    return out


def _metadata(name: str, namespace: str) -> cdk8s.ApiObjectMetadata:
    return cdk8s.ApiObjectMetadata(name=name, namespace=namespace, labels={"app": APP})


def _direct(name: str, status: int, body: str, match: istio.VirtualServiceSpecHttpMatch | None) -> istio.VirtualServiceSpecHttp:
    """A static JSON answer from the gateway (Envoy's direct_response, content type set by the route)."""
    return istio.VirtualServiceSpecHttp(
        name=name,
        match=[match] if match else None,
        direct_response=istio.VirtualServiceSpecHttpDirectResponse(
            status=status, body=istio.VirtualServiceSpecHttpDirectResponseBody(string=body)),
        headers=istio.VirtualServiceSpecHttpHeaders(
            response=istio.VirtualServiceSpecHttpHeadersResponse(set={"content-type": "application/json"})),
    )


class OpenAiEndpoint(Construct):
    """The OpenAI-compatible host of a fleet: TrafficExtension `<name>` (Router), then VirtualService `<name>` (Resource).

    Props, keyword-only: `name` (both objects'), `namespace` (the VirtualService's, the fleet's),
    `config` (`fleet.openai.OpenAi`: host and body limit), `models` (name -> `fleet.model.Model`,
    each reached by its name, `servedNames` and `adapters`), `gateway` (the FleetGateway whose pods
    run the Lua: the TrafficExtension goes in their namespace, selecting them by their labels), and
    `cluster_domain` (default `cluster.local`).

    Routes, first match wins: `GET /v1/models` (a static list of every served name), each served
    name's routes (streaming twin first), then 404 for any other model. The Lua answers 400 (no
    model in the body) and 413 (body over the limit) itself.
    """

    def __init__(
        self, scope: Construct, id: str, *, name: str, namespace: str, config: OpenAi, models: Mapping[str, Model],
        gateway: FleetGateway, cluster_domain: str = "cluster.local",
    ) -> None:
        super().__init__(scope, id)
        served = served_names(models)
        self.served, self.host = served, config.host
        gateway.serve(self, config.host)
        extensions.TrafficExtension(
            self, "Router",
            metadata=_metadata(name, gateway.workload.namespace),
            spec=extensions.TrafficExtensionSpec(
                selector=extensions.TrafficExtensionSpecSelector(match_labels=dict(gateway.workload.selector)),
                lua=extensions.TrafficExtensionSpecLua(
                    inline_code=router_lua(host=config.host, body_limit=config.body_limit_bytes)),
            ),
        )
        # The gateway's side of each model: no mesh-only pins, Secure cohort cookies over HTTPS.
        plans = {
            m: edge_routes([r for r in plan_routes(m, spec) if r.only != "mesh"], prefix=None, gateway=gateway.ref,
                           secure=gateway.secure)
            for m, spec in models.items()
        }
        routes = [
            http_route(plan, host=f"{model}.{namespace}.svc.{cluster_domain}", port=models[model].port)
            for model, plan in served_routes(served, plans)
        ]
        list_match = istio.VirtualServiceSpecHttpMatch(
            uri=istio.VirtualServiceSpecHttpMatchUri(exact="/v1/models"),
            method=istio.VirtualServiceSpecHttpMatchMethod(exact="GET"))
        unknown = error_body(UNKNOWN_MODEL)
        istio.VirtualService(
            self, "Resource",
            metadata=_metadata(name, namespace),
            spec=istio.VirtualServiceSpec(
                hosts=[config.host], gateways=[gateway.ref],
                export_to=export_to(namespace, gateway.workload.namespace, [])[-1:],  # the gateway pods' namespace
                http=[_direct("models", 200, models_list(served), list_match), *routes,
                      _direct("unknown-model", 404, unknown, None)],
            ),
        )
