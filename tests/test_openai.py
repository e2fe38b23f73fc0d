"""The OpenAI-compatible endpoint: config, synthesized objects, validation, traffic map and plan."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from helpers import ROOT, by_kind, load_yaml, objects_of, synth_data
from model_serving.checks.traffic import traffic_view
from model_serving.checks.validate import validate_manifests
from model_serving.commands.plan import compare_traffic
from model_serving.commands.trafficmap import render_traffic_map
from model_serving.fleet.load import ConfigError, parse_fleet
from model_serving.rehearse.translate import translate

EXAMPLE = ROOT / "examples" / "openai-gateway.yaml"


@pytest.fixture
def config() -> dict[str, Any]:
    return copy.deepcopy(load_yaml(EXAMPLE))


def _objects(data: dict[str, Any]) -> list[dict[str, Any]]:
    return objects_of(synth_data(data)[1])


def _openai_vs(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in by_kind(objects, "VirtualService") if o["metadata"]["name"] == "llm-gateway-openai")


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_fleet(data, source="test.yaml")
    return str(raised.value)


def test_a_served_name_used_twice_is_refused_in_one_line(config: dict[str, Any]) -> None:
    config["models"]["mistral-7b"]["servedNames"] = ["meta-llama/Meta-Llama-3-8B-Instruct"]
    assert _error(config) == (
        "test.yaml: models.mistral-7b.servedNames: served name 'meta-llama/Meta-Llama-3-8B-Instruct' is already a name "
        "of model llama-3-8b; fix: give every model, served name and adapter a name of its own")


def test_an_adapter_named_like_another_model_is_refused(config: dict[str, Any]) -> None:
    config["models"]["mistral-7b"]["adapters"] = ["llama-3-8b"]
    assert "models.mistral-7b.adapters: served name 'llama-3-8b' is already a name of model llama-3-8b" in _error(config)


def test_a_body_limit_above_envoys_buffer_is_refused(config: dict[str, Any]) -> None:
    config["environments"]["production"]["openai"]["bodyLimit"] = "2Mi"
    assert _error(config) == (
        "test.yaml: environments.production.openai.bodyLimit: bodyLimit '2Mi' is not a size from 1 to 1Mi "
        "(Envoy's buffer limit); fix: e.g. 256Ki or 1Mi")


def test_a_served_name_the_lua_cannot_pass_on_is_refused(config: dict[str, Any]) -> None:
    config["models"]["llama-3-8b"]["servedNames"] = ["llama 3"]
    assert "models.llama-3-8b.servedNames[0]: 'llama 3' is not a servable model name" in _error(config)


def test_the_virtual_service_matches_each_served_name_with_a_streaming_twin_first(config: dict[str, Any]) -> None:
    vs = _openai_vs(_objects(config))
    assert vs["spec"]["hosts"] == ["llm.example.com"] and vs["spec"]["gateways"] == ["llm/llm-gateway"]
    http = vs["spec"]["http"]
    assert http[0]["name"] == "models" and http[0]["match"] == [{"uri": {"exact": "/v1/models"}, "method": {"exact": "GET"}}]
    assert http[-1]["name"] == "unknown-model" and "match" not in http[-1] and http[-1]["directResponse"]["status"] == 404
    named = {r["name"]: r for r in http[1:-1]}
    assert list(named) == [
        "llama-3-8b.default.stream", "llama-3-8b.default",
        "meta-llama/Meta-Llama-3-8B-Instruct.default.stream", "meta-llama/Meta-Llama-3-8B-Instruct.default",
        "mistral-7b.default.stream", "mistral-7b.default", "mistral-7b-sql-lora.default.stream", "mistral-7b-sql-lora.default"]
    stream, plain = named["llama-3-8b.default.stream"], named["llama-3-8b.default"]
    assert stream["match"][0]["headers"] == {"x-model-serving-model": {"exact": "llama-3-8b"},
                                             "x-model-serving-stream": {"exact": "true"}}
    assert "timeout" not in stream and plain["timeout"] == "120s"
    assert [(d["destination"]["subset"], d["weight"]) for d in plain["route"]] == [("v1", 90), ("v2", 10)]
    lora = named["mistral-7b-sql-lora.default"]["route"]
    assert [d["destination"]["host"] for d in lora] == ["mistral-7b.llm.svc.cluster.local"]


def test_sticky_cohorts_and_mirrors_stay_behind_the_served_name(config: dict[str, Any]) -> None:
    llama = config["models"]["llama-3-8b"]
    llama["sticky"], llama["mirror"] = True, {"version": "v2", "percent": 5}
    named = {r["name"]: r for r in _openai_vs(_objects(config))["spec"]["http"]}
    sticky = named["llama-3-8b.sticky-v2"]
    assert set(sticky["match"][0]["headers"]) == {"x-model-serving-model", "cookie"}
    assert named["llama-3-8b.default"]["mirrors"][0]["percentage"] == {"value": 5}


def test_the_traffic_extension_runs_in_the_gateway_pods_and_validates(config: dict[str, Any]) -> None:
    objects = _objects(config)
    [extension] = by_kind(objects, "TrafficExtension")
    assert extension["apiVersion"] == "extensions.istio.io/v1alpha1"
    assert extension["metadata"]["namespace"] == "llm"  # the gateway workload's (the fleet's) namespace
    assert extension["spec"]["selector"] == {"matchLabels": {"app": "llm-gateway", "istio": "llm-gateway"}}
    lua = extension["spec"]["lua"]["inlineCode"]
    assert 'local HOST = "llm.example.com"' in lua and "local LIMIT = 524288" in lua and "clearRouteCache" in lua
    assert validate_manifests(objects) == []


def test_schema_and_cel_catch_a_broken_traffic_extension(config: dict[str, Any]) -> None:
    [extension] = by_kind(_objects(config), "TrafficExtension")
    both = copy.deepcopy(extension)
    both["spec"]["wasm"] = {"url": "oci://example.com/filter:1"}
    assert [(f.path, f.message) for f in validate_manifests([both])] == [
        ("spec", "at most one of wasm, lua may be set (found wasm, lua)"),  # the schema's oneOf
        ("spec", "exactly one of wasm or lua must be set"),  # the CEL rule
    ]
    empty = copy.deepcopy(extension)
    empty["spec"]["lua"]["inlineCode"] = ""
    assert [(f.path, f.message) for f in validate_manifests([empty])] == [("spec.lua.inlineCode", "length must be at least 1")]


def test_the_rehearsal_places_the_lua_as_istiod_does(config: dict[str, Any]) -> None:
    translation = translate(_objects(config))
    gateway = next(li for li in translation.listeners if li["name"].startswith("gateway_"))
    filters = gateway["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
    assert filters[0]["name"] == "extensions.istio.io/trafficextension/llm.llm-gateway-openai"
    assert filters[0]["typed_config"]["@type"] == "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"
    assert filters[-1]["name"] == "envoy.filters.http.router"
    mesh = next(li for li in translation.listeners if not li["name"].startswith("gateway_"))
    assert "lua" not in str(mesh["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"])


def test_traffic_map_shows_served_names_and_adapters(config: dict[str, Any]) -> None:
    text = render_traffic_map(parse_fleet(config, source="openai-gateway.yaml"))
    assert "| mistral-7b-sql-lora | mistral-7b | LoRA adapter |" in text
    assert "| meta-llama/Meta-Llama-3-8B-Instruct | llama-3-8b | model |" in text
    assert "LoRA adapter" in text.split("```mermaid")[1].split("```")[0]


def test_plan_says_when_a_served_name_is_added(config: dict[str, Any]) -> None:
    before = traffic_view(_objects(config))
    config["models"]["mistral-7b"]["adapters"].append("mistral-7b-chat-lora")
    after = traffic_view(_objects(config))
    assert compare_traffic(before, after) == [
        "mistral-7b: now served at llm.example.com (model mistral-7b-chat-lora) via llm/llm-gateway"]

