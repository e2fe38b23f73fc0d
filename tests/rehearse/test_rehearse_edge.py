"""The edge on a real Envoy: port 80 keeps the method, and a mesh-only pin cannot be forced from outside."""
from __future__ import annotations

import copy
from typing import Any

from helpers import ROOT, load_yaml, objects_of, synth_data
from model_serving.rehearse.drive import RequestSpec
from model_serving.rehearse.runner import Rehearsal


def _reference(**gateway_tls: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    data = copy.deepcopy(load_yaml(ROOT / "serving.yaml"))
    data["environments"]["production"]["gateway"]["tls"].update(gateway_tls)
    return data, objects_of(synth_data(data)[1])


def test_port_80_answers_308_to_https_and_no_model_sees_the_request() -> None:
    _, objects = _reference(httpsRedirect=True)
    with Rehearsal(objects, time_scale=0.01) as rehearsal:
        result = rehearsal.run(RequestSpec(host="ai-model.example.com", port=80, method="POST", path="/v2/models/m/infer",
                                           body=b'{"inputs": []}', requests=50, clients=5))
        assert result.statuses == {"308": 50}  # 308: the client repeats the POST, with its body
        assert result.versions == {}  # answered by the gateway: plain HTTP never reaches a model
        locations = {v for o in result.outcomes for k, v in o.headers if k.lower() == "location"}
        assert locations == {"https://ai-model.example.com/v2/models/m/infer"}
        secure = rehearsal.run(RequestSpec(host="ai-model.example.com", port=443, requests=50, clients=5))
        assert secure.statuses == {"200": 50}


def test_a_mesh_only_pin_reaches_v2_from_the_mesh_but_never_through_the_gateway() -> None:
    data = copy.deepcopy(load_yaml(ROOT / "serving.yaml"))
    model = data["models"]["ai-model"]
    model["versions"]["v1"]["weight"], model["versions"]["v2"]["weight"] = 100, 0
    model["routes"] = [{"name": "pinned", "match": {"headers": {"x-model-version": "v2"}}, "version": "v2", "from": "mesh"}]
    pin = (("x-model-version", "v2"),)
    with Rehearsal(objects_of(synth_data(data)[1]), time_scale=0.01) as rehearsal:
        outside = rehearsal.run(RequestSpec(host="ai-model.example.com", headers=pin, requests=2000, clients=20))
        inside = rehearsal.run(RequestSpec(model="ai-model", headers=pin, requests=200, clients=10))
    # 0 % and 100 % are exact: one request the other way fails the test.
    assert outside.versions == {"ai-model/v1": 2000}
    assert inside.versions == {"ai-model/v2": 200}
