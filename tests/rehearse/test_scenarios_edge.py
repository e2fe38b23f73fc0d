"""Edge routing through the gateway listeners, measured on the real Envoy: Host-based routing,
a URI prefix rewritten to `/`, what matches nothing, and port 80: closed, or a 308 redirect (edge-routing.yaml)."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from conftest import bounds, manifests, variant, within
from model_serving.rehearse.drive import RequestSpec
from model_serving.rehearse.runner import Rehearsal

N = 2000


@pytest.fixture(scope="module")
def edge(rehearse: Callable[..., Rehearsal]) -> Rehearsal:
    return rehearse("edge-routing")


def test_host_based_routing_picks_the_model_by_host_before_any_path(edge: Rehearsal) -> None:
    own, prefixed = edge.run_many([RequestSpec(host="translate.example.com", path="/v1/completions", requests=200),
                                   RequestSpec(host="translate.example.com", path="/models/summarize/x", requests=200)])
    assert own.versions == {"translate/v1": 200}
    # another model's prefix on translate's host still goes to translate, path untouched
    assert prefixed.versions == {"translate/v1": 200}
    assert {r.path for r in prefixed.records} == {"/models/summarize/x"}


def test_a_prefix_on_a_shared_host_reaches_its_model_rewritten_to_slash(edge: Rehearsal) -> None:
    result = edge.run(RequestSpec(host="api.example.com", path="/models/summarize/v2/models/summarize/infer",
                                  method="POST", body=b"{}", requests=200))
    assert result.statuses == {"200": 200}
    assert result.versions == {"summarize/v1": 200}
    assert {r.path for r in result.records} == {"/v2/models/summarize/infer"}  # the prefix became `/`
    assert result.outcomes[0].body and json.loads(result.outcomes[0].body)["model_name"] == "summarize"


def test_a_prefixed_model_keeps_its_weighted_split(edge: Rehearsal) -> None:
    result = edge.run(RequestSpec(host="api.example.com", path="/models/classify/predict", requests=N))
    assert result.statuses == {"200": N}
    v2 = result.versions["classify/v2"]
    assert result.versions["classify/v1"] + v2 == N
    assert within(v2, N, 30), f"v2 {v2}/{N}, accepted {bounds(N, 30)}"
    assert {r.path for r in result.records} == {"/predict"}


@pytest.mark.parametrize("path", ["/", "/models/", "/models/summarizer/x", "/models/tokenizer/"])
def test_a_path_no_model_claims_on_the_shared_host_gets_404_from_the_proxy(edge: Rehearsal, path: str) -> None:
    result = edge.run(RequestSpec(host="api.example.com", path=path, requests=20))
    assert result.statuses == {"404": 20}
    assert not result.records  # no stand-in was reached


def test_a_host_the_gateway_does_not_serve_gets_404(edge: Rehearsal) -> None:
    result = edge.run(RequestSpec(host="api.example.com", headers=(("host", "tokenizer.example.com"),), requests=20))
    assert result.statuses == {"404": 20}
    assert not result.records


def _https_redirect(data: dict[str, Any]) -> None:
    data["environments"]["production"]["gateway"]["tls"]["httpsRedirect"] = True


def test_port_80_is_closed_by_default_and_on_request_redirects_308_keeping_host_path_and_query(
        fresh_rehearsal: Callable[..., Rehearsal]) -> None:
    # Issue 12 item 4: an API host does not listen on 80 unless asked; asked, it answers 308 (the
    # client repeats its method and body), never 301 (which many clients turn from POST into GET).
    (gateway,) = [o for o in manifests("edge-routing") if o["kind"] == "Gateway"]
    assert [s["port"]["number"] for s in gateway["spec"]["servers"]] == [443]
    rehearsal = fresh_rehearsal(objects=variant("edge-routing", _https_redirect), time_scale=0.01)
    result = rehearsal.run(RequestSpec(host="api.example.com", port=80, method="POST", body=b"{}",
                                       path="/models/classify/predict?x=1", requests=20))
    assert result.statuses == {"308": 20}
    locations = {dict(o.headers).get("location") for o in result.outcomes}
    assert locations == {"https://api.example.com/models/classify/predict?x=1"}
    assert not result.records
