"""The OpenAI-compatible endpoint on a real Envoy, driven by the real OpenAI Python SDK.

examples/openai-gateway.yaml serves llama-3-8b (v1 90 / v2 10, also as its Hugging Face name) and
mistral-7b (with the LoRA adapter mistral-7b-sql-lora) behind llm.example.com; the TrafficExtension's
Lua reads `model` from the body. Clients point `base_url` at the rehearsal's gateway listener.
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from conftest import ROOT, bounds, manifests, variant, within
from model_serving.rehearse.drive import RequestSpec
from model_serving.rehearse.runner import Rehearsal
from model_serving.rehearse.standin import Behaviour

HOST = "llm.example.com"
EXAMPLE = "openai-gateway"
MESSAGES = [{"role": "user", "content": "hello"}]


def _client(rehearsal: Rehearsal) -> openai.OpenAI:
    port = rehearsal.target(RequestSpec(host=HOST)).port
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0,
                         default_headers={"Host": HOST})


@pytest.fixture(scope="module")
def client(rehearse: Callable[..., Rehearsal]) -> Iterator[openai.OpenAI]:
    with _client(rehearse(EXAMPLE)) as sdk:
        yield sdk


def _served_by(sdk: openai.OpenAI, model: str, n: int, **extra: object) -> Counter[str]:
    """`<model>/<version>` of the stand-in that answered each of n chat completions."""
    seen: Counter[str] = Counter()
    for _ in range(n):
        raw = sdk.chat.completions.with_raw_response.create(model=model, messages=MESSAGES, **extra)
        raw.parse()
        seen[f"{raw.headers['x-model']}/{raw.headers['x-version']}"] += 1
    return seen


def test_each_model_keeps_its_canary_behind_one_host(client: openai.OpenAI) -> None:
    llama = _served_by(client, "llama-3-8b", 2000)
    mistral = _served_by(client, "mistral-7b", 200)
    assert set(llama) == {"llama-3-8b/v1", "llama-3-8b/v2"}
    assert within(llama["llama-3-8b/v2"], 2000, 10), (llama, bounds(2000, 10))
    assert mistral == {"mistral-7b/v1": 200}


def test_a_served_name_reaches_its_model(client: openai.OpenAI) -> None:
    seen = _served_by(client, "meta-llama/Meta-Llama-3-8B-Instruct", 300)
    assert set(seen) <= {"llama-3-8b/v1", "llama-3-8b/v2"} and sum(seen.values()) == 300


def test_an_adapter_reaches_its_base_model_with_the_body_unchanged(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="mistral-7b-sql-lora", messages=MESSAGES)
    assert completion.model == "mistral-7b-sql-lora"  # the stand-in echoes the body's model
    assert _served_by(client, "mistral-7b-sql-lora", 100) == {"mistral-7b/v1": 100}


def test_streaming_goes_through_the_lua_to_the_model(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="mistral-7b-sql-lora", messages=MESSAGES, stream=True)
    chunks = list(stream)
    assert len(chunks) == 8
    assert {c.to_dict()["rehearsal"]["model"] for c in chunks} == {"mistral-7b"}
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_models_lists_every_served_name(client: openai.OpenAI) -> None:
    listed = {m.id: m for m in client.models.list()}
    assert set(listed) == {"llama-3-8b", "meta-llama/Meta-Llama-3-8B-Instruct", "mistral-7b", "mistral-7b-sql-lora"}
    assert listed["mistral-7b-sql-lora"].to_dict()["parent"] == "mistral-7b"


def test_an_unknown_model_is_the_sdks_not_found_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="gpt-4", messages=MESSAGES)
    assert raised.value.status_code == 404
    assert raised.value.code == "model_not_found" and raised.value.type == "invalid_request_error"


def test_a_body_without_a_model_is_the_sdks_bad_request_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.post("/chat/completions", body={"messages": MESSAGES}, cast_to=httpx.Response)
    assert raised.value.code == "model_not_found" and raised.value.type == "invalid_request_error"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="x", messages=MESSAGES, extra_body={"model": None})


def test_a_body_over_the_limit_is_413_in_the_openai_shape(client: openai.OpenAI) -> None:
    big = [{"role": "user", "content": "x" * (600 * 1024)}]  # the example's bodyLimit is 512Ki
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model="llama-3-8b", messages=big)
    assert raised.value.status_code == 413
    assert raised.value.code == "request_too_large" and raised.value.type == "invalid_request_error"


def test_a_chunked_body_over_the_limit_is_413_in_the_openai_shape(rehearse: Callable[..., Rehearsal]) -> None:
    """Without content-length the Lua buffers, then measures (below Envoy's own 1 MiB buffer limit)."""
    port = rehearse(EXAMPLE).target(RequestSpec(host=HOST)).port
    payload = b'{"model": "llama-3-8b", "messages": [{"role": "user", "content": "' + b"x" * (600 * 1024) + b'"}]}'
    pieces = iter([payload[i:i + 65536] for i in range(0, len(payload), 65536)])
    response = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", content=pieces, headers={"Host": HOST})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_a_client_sent_routing_header_cannot_override_the_body(client: openai.OpenAI) -> None:
    forged = {"x-model-serving-model": "mistral-7b", "x-model-serving-stream": "true"}
    seen = _served_by(client, "llama-3-8b", 200, extra_headers=forged)
    assert set(seen) <= {"llama-3-8b/v1", "llama-3-8b/v2"} and sum(seen.values()) == 200
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4", messages=MESSAGES, extra_headers=forged)


def test_streams_have_no_route_timeout_while_other_requests_keep_it(
    fresh_rehearsal: Callable[..., Rehearsal],
) -> None:
    """llama's timeout is 120s (1.2 s at the time scale); a 3 s stream still ends with every token."""
    slow = Behaviour(stream=300.0, tokens=4)
    rehearsal = fresh_rehearsal(EXAMPLE, objects=manifests(EXAMPLE), time_scale=0.01, behaviours={"llama-3-8b/*": slow})
    with _client(rehearsal) as sdk:
        chunks = list(sdk.chat.completions.create(model="llama-3-8b", messages=MESSAGES, stream=True))
    assert len(chunks) == 4 and chunks[-1].choices[0].finish_reason == "stop"
    rehearsal.set_behaviour("llama-3-8b/*", Behaviour(latency=300.0))
    with _client(rehearsal) as sdk, pytest.raises(openai.InternalServerError) as raised:
        sdk.chat.completions.create(model="llama-3-8b", messages=MESSAGES)
    assert raised.value.status_code == 504


def _pin_rules(data: dict) -> None:
    data["models"]["llama-3-8b"]["routes"] = [
        {"name": "pin", "match": {"headers": {"x-pin": "v2"}}, "version": "v2", "from": "mesh"},
        {"name": "testers", "match": {"headers": {"x-tester": "yes"}}, "version": "v2", "from": "anyone"},
    ]


def test_a_mesh_only_pin_is_not_offered_on_the_openai_host(fresh_rehearsal: Callable[..., Rehearsal]) -> None:
    """The OpenAI host is the gateway's side of each model: its public A/B rules apply, its in-mesh pins do not."""
    rehearsal = fresh_rehearsal(objects=variant(EXAMPLE, _pin_rules))
    with _client(rehearsal) as sdk:
        pinned = _served_by(sdk.with_options(default_headers={"Host": HOST, "x-pin": "v2"}), "llama-3-8b", 1000)
        tester = _served_by(sdk.with_options(default_headers={"Host": HOST, "x-tester": "yes"}), "llama-3-8b", 50)
    assert within(pinned["llama-3-8b/v2"], 1000, 10), (pinned, bounds(1000, 10))  # the canary's weights, not the pin
    assert tester == {"llama-3-8b/v2": 50}


def _rehearse_json(*args: str) -> dict:
    out = subprocess.run([str(Path(sys.executable).with_name("model-serving")), "rehearse", "--config",
                          str(ROOT / "examples" / f"{EXAMPLE}.yaml"), "--host", HOST, "-o", "json", *args],
                         capture_output=True, text=True, check=True, timeout=300)
    return json.loads(out.stdout)["runs"][0]


def test_the_rehearse_command_routes_by_body_and_reports_the_luas_latency() -> None:
    run = _rehearse_json("--method", "POST", "--path", "/v1/chat/completions", "--requests", "2000",
                         "--body", '{"model": "llama-3-8b", "messages": []}')
    assert set(run["versions"]) == {"llama-3-8b/v1", "llama-3-8b/v2"}
    assert within(run["versions"]["llama-3-8b/v2"], 2000, 10), run["versions"]
    overhead = run["extension_latency_ms"]
    assert overhead["same_versions"] is True  # the baseline (no Lua, headers sent by the client) routed alike
    assert set(overhead["added"]) == {"p50", "p99"}
    assert overhead["added"]["p50"] == round(overhead["with"]["p50"] - overhead["without"]["p50"], 1)


def test_the_rehearse_command_lists_models_and_refuses_unknown_ones() -> None:
    listed = _rehearse_json("--path", "/v1/models", "--requests", "5", "--show-body")
    assert {m["id"] for m in listed["body"]["200"]["data"]} == {
        "llama-3-8b", "meta-llama/Meta-Llama-3-8B-Instruct", "mistral-7b", "mistral-7b-sql-lora"}
    unknown = _rehearse_json("--method", "POST", "--path", "/v1/chat/completions", "--requests", "5",
                             "--body", '{"model": "gpt-4", "messages": []}')
    assert unknown["statuses"] == {"404": 5} and unknown["versions"] == {}
