"""Traffic strategies: each example produces exactly the routes its strategy promises."""
from __future__ import annotations

import copy

import pytest

from helpers import ROOT, by_kind, load_yaml, model_deployments, objects_of, synth_data
from model_serving.fleet.load import ConfigError, parse_fleet
from model_serving.fleet.routes import cohort_value, plan_routes


def _vs(outputs, name: str) -> dict:
    (vs,) = [v for v in by_kind(objects_of(outputs), "VirtualService") if v["metadata"]["name"] == name]
    return vs


def _split(route: dict) -> list[tuple[str, int | None]]:
    return [(d["destination"]["subset"], d.get("weight")) for d in route["route"]]


def test_canary_splits_n_ways_and_keeps_weight_zero_versions_addressable(example) -> None:
    _, outputs = example("canary")
    (route,) = _vs(outputs, "sentiment")["spec"]["http"]
    assert _split(route) == [("v1", 80), ("v2", 15), ("v3", 5), ("v0", 0)]
    (dr,) = by_kind(objects_of(outputs), "DestinationRule")
    assert [s["name"] for s in dr["spec"]["subsets"]] == ["v1", "v2", "v3", "v0"]
    assert {d["metadata"]["name"] for d in model_deployments(objects_of(outputs))} == {
        "sentiment-v0", "sentiment-v1", "sentiment-v2", "sentiment-v3"}


def test_ab_rules_come_first_in_declared_order_then_the_default(example) -> None:
    _, outputs = example("ab-test")
    http = _vs(outputs, "recommender")["spec"]["http"]
    # beta-cohort keys on a JWT claim: only the gateway validates tokens, so only its routes have it.
    assert [r["name"] for r in http] == ["pinned-version", "internal-testers", "experiment-link", "eu-clients", "default"]
    assert http[0]["match"] == [{"headers": {"x-model-version": {"exact": "v2"}}}]
    assert http[1]["match"][0]["headers"]["cookie"] == {"regex": "^(.*?;\\s*)?(ab-group=b)(;.*)?$"}
    assert http[2]["match"] == [{"queryParams": {"variant": {"exact": "b"}}}]
    assert http[3]["match"][0]["headers"]["x-client-region"] == {"regex": "^eu-(west|central)-[0-9]$"}
    assert all(_split(r) == [("v2", None)] for r in http[:3])
    assert "match" not in http[-1] and _split(http[-1]) == [("v1", 100), ("v2", 0)]
    # pinned-version is for in-mesh callers only: internet clients cannot force v2 with a header.
    edge = _vs(outputs, "recommender-edge")["spec"]["http"]
    assert [r["name"] for r in edge] == ["beta-cohort", "internal-testers", "experiment-link", "eu-clients", "default"]
    assert edge[0]["match"][0]["headers"]["@request.auth.claims.cohort"] == {"exact": "beta"}


def test_sticky_canary_enrols_every_live_version_and_routes_returning_users(example) -> None:
    fleet, outputs = example("sticky-canary")
    model = fleet.environments["production"].models["chat"]
    v1, v2 = cohort_value(model, "v1"), cohort_value(model, "v2")
    assert v1.startswith("v1.") and v2.startswith("v2.") and v1[3:] == v2[3:]  # one rollout, one token
    attributes = "Max-Age=43200; Path=/; HttpOnly; SameSite=Lax"
    for name, secure in (("chat", ""), ("chat-edge", "; Secure")):  # Secure only on the HTTPS gateway
        sticky_v1, sticky_v2, default = _vs(outputs, name)["spec"]["http"]
        for route, version, value in ((sticky_v1, "v1", v1), (sticky_v2, "v2", v2)):
            assert route["name"] == f"sticky-{version}" and _split(route) == [(version, None)]
            pattern = "^(.*?;\\s*)?(chat-version=" + value.replace(".", "\\.") + ")(;.*)?$"
            assert route["match"] == [{"headers": {"cookie": {"regex": pattern}}}]
        # The stable version enrols its users too, so the share of users follows the weights.
        stable, canary = default["route"]
        assert stable["headers"]["response"]["add"]["Set-Cookie"] == f"chat-version={v1}; {attributes}{secure}"
        assert canary["headers"]["response"]["add"]["Set-Cookie"] == f"chat-version={v2}; {attributes}{secure}"


def test_reweighting_draws_a_new_cohort_instead_of_recapturing_the_old_one(example) -> None:
    data = load_yaml(ROOT / "examples" / "sticky-canary.yaml")
    before = example("sticky-canary")[0].environments["production"].models["chat"]
    data["models"]["chat"]["versions"]["v1"]["weight"] = 75
    data["models"]["chat"]["versions"]["v2"]["weight"] = 25
    after = synth_data(data)[0].environments["production"].models["chat"]
    assert {cohort_value(before, v) for v in ("v1", "v2")}.isdisjoint({cohort_value(after, v) for v in ("v1", "v2")})


def test_rolling_back_a_sticky_canary_releases_its_cohort(example) -> None:
    data = load_yaml(ROOT / "examples" / "sticky-canary.yaml")
    data["models"]["chat"]["versions"]["v1"]["weight"] = 100
    data["models"]["chat"]["versions"]["v2"]["weight"] = 0
    fleet, outputs = synth_data(data)
    http = _vs(outputs, "chat")["spec"]["http"]
    # No sticky route for v2 is left; its users fall through to the default route, whose
    # Set-Cookie replaces their v2 cookie with the new v1 cohort's.
    assert [r["name"] for r in http] == ["sticky-v1", "default"]
    stable, canary = http[-1]["route"]
    value = cohort_value(fleet.environments["production"].models["chat"], "v1")
    assert stable["headers"]["response"]["add"]["Set-Cookie"].startswith(f"chat-version={value};")
    assert (canary["weight"], "headers" in canary) == (0, False)


def test_shadow_mirrors_a_percentage_to_a_version_without_live_weight(example) -> None:
    fleet, outputs = example("shadow")
    (route,) = _vs(outputs, "fraud-detector")["spec"]["http"]
    assert route["mirrors"] == [{
        "destination": {"host": "fraud-detector.ml-shadow.svc.cluster.local", "port": {"number": 8080}, "subset": "v2"},
        "percentage": {"value": 20},
    }]
    assert dict(_split(route))["v2"] == 0
    assert any("mirroring costs GPU capacity" in w for w in fleet.warnings)


def test_warns_when_the_mirror_target_also_takes_live_traffic(base_config: dict) -> None:
    base_config["models"]["ai-model"]["mirror"] = {"version": "v2", "percent": 50}
    (warning,) = parse_fleet(base_config).warnings
    assert "v2 also takes live traffic" in warning and "GPU capacity" in warning


def test_blue_green_switches_everything_in_one_change(example) -> None:
    data = load_yaml(ROOT / "examples" / "blue-green.yaml")
    before = _split(_vs(example("blue-green")[1], "ranker")["spec"]["http"][0])
    versions = data["models"]["ranker"]["versions"]
    versions["blue"]["weight"], versions["green"]["weight"] = 0, 100
    after = _split(_vs(synth_data(data)[1], "ranker")["spec"]["http"][0])
    assert (before, after) == ([("blue", 100), ("green", 0)], [("blue", 0), ("green", 100)])


def test_edge_routing_serves_shared_hosts_by_prefix_with_rewrite(example) -> None:
    _, outputs = example("edge-routing")
    names = {v["metadata"]["name"] for v in by_kind(objects_of(outputs), "VirtualService")}
    assert names == {"translate", "translate-edge", "summarize", "summarize-edge", "classify", "classify-edge", "tokenizer"}
    edge = _vs(outputs, "classify-edge")["spec"]
    assert edge["hosts"] == ["api.example.com"] and edge["gateways"] == ["ml-edge/models-gateway"]
    (route,) = edge["http"]
    assert route["match"] == [{"gateways": ["ml-edge/models-gateway"], "uri": {"prefix": "/models/classify/"}}]
    assert route["rewrite"] == {"uri": "/"} and _split(route) == [("v1", 70), ("v2", 30)]
    mesh = _vs(outputs, "classify")["spec"]
    assert mesh["gateways"] == ["mesh"] and mesh["hosts"] == ["classify.ml-edge.svc.cluster.local"]
    assert _vs(outputs, "translate")["spec"]["hosts"] == ["translate.ml-edge.svc.cluster.local"]
    assert _vs(outputs, "translate-edge")["spec"]["hosts"] == ["translate.example.com"]
    assert _vs(outputs, "tokenizer")["spec"]["gateways"] == ["mesh"]


def test_environments_become_separate_files_with_their_overrides(example) -> None:
    _, outputs = example("environments")
    files = {o.env: o for o in outputs}
    assert set(files) == {"staging", "production"}
    staging = _vs([files["staging"]], "qa")["spec"]
    production = _vs([files["production"]], "qa")["spec"]
    assert _vs([files["staging"]], "qa-edge")["spec"]["hosts"] == ["qa.staging.example.com"]
    assert _vs([files["production"]], "qa-edge")["spec"]["hosts"] == ["qa.example.com"]
    assert _split(staging["http"][0]) == [("v1", 50), ("v2", 50)]
    assert _split(production["http"][0]) == [("v1", 95), ("v2", 5)]
    replicas = {d["metadata"]["name"]: d["spec"]["replicas"] for d in model_deployments(files["staging"].objects)}
    assert replicas == {"qa-v1": 1, "qa-v2": 1}
    assert "fault" in staging["http"][0] and "fault" not in production["http"][0]


def test_staged_rollout_declares_steps(example) -> None:
    fleet, _ = example("staged-rollout")
    rollout = fleet.environments["production"].models["embedder"].rollout
    assert (rollout.stable, rollout.canary, rollout.steps) == ("v1", "v2", [10, 25, 50, 100])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m.update(mirror={"version": "v7", "percent": 5}), "mirror names unknown version 'v7'"),
        (lambda m: m.update(mirror={"version": "v2", "percent": 150}), "mirror.percent: Input should be less than or equal to 100"),
        (lambda m: m.update(routes=[{"name": "x", "match": {"headers": {"a": "b"}}}]), "route 'x' needs exactly one target"),
        (lambda m: m.update(routes=[{"name": "x", "match": {}, "version": "v2"}]), "a match needs headers, cookies, queryParams or uri"),
        (lambda m: m.update(routes=[{"name": "x", "match": {"headers": {"a": "b"}}, "version": "v2"}] * 2), "route name 'x' is used twice"),
        (lambda m: m.update(routes=[{"name": "x", "match": {"cookies": {"a": "1", "b": "2"}}, "version": "v2"}]), "at most 1 item after validation, not more; fix: remove the extra ones (cookies: One cookie"),
        (lambda m: m.update(rollout={"stable": "v1", "canary": "v1"}), "rollout.canary equals rollout.stable"),
        (lambda m: m.update(rollout={"stable": "v1", "canary": "v2", "steps": [50, 25]}), "must be strictly increasing, each 1 to 100"),
        (lambda m: m.update(prefix="/x/", routes=[{"name": "u", "match": {"uri": {"prefix": "/a"}}, "version": "v2"}]), "cannot be combined with the model's prefix"),
        (lambda m: m.update(sticky={"cookie": "bad cookie"}), "has characters outside"),
    ],
)
def test_fails_when_traffic_config_is_inconsistent(base_config: dict, mutate, message: str) -> None:
    mutate(base_config["models"]["ai-model"])
    with pytest.raises(ConfigError) as caught:
        parse_fleet(base_config, source="serving.yaml")
    text = str(caught.value)
    assert message in text and text.startswith("serving.yaml: models.ai-model") and "fix:" in text, text


def test_fails_when_a_version_appears_twice(tmp_path) -> None:
    from model_serving.fleet.load import load_fleet

    path = tmp_path / "serving.yaml"
    text = (ROOT / "serving.yaml").read_text()
    path.write_text(text.replace("      v2:\n", "      v1:\n"))
    with pytest.raises(ConfigError, match=r"key 'v1' appears twice; fix: keep one$"):
        load_fleet(path)


def test_weighted_rule_keeps_sticky_users_on_their_version() -> None:
    data = load_yaml(ROOT / "examples" / "fleet.yaml")
    data["models"]["llm"]["routes"] = [{"name": "beta", "match": {"headers": {"x-beta": "1"}}, "weighted": True}]
    model = parse_fleet(data).environments["production"].models["llm"]
    names = [r.name for r in plan_routes("llm", model)]
    assert names == ["beta-sticky-v1", "beta-sticky-v2", "beta", "sticky-v1", "sticky-v2", "default"]
    beta_sticky = plan_routes("llm", model)[1]
    # A streaming model: no route timeout on any of its routes.
    assert beta_sticky.timeout is None and set(beta_sticky.headers) == {"x-beta", "cookie"}


def test_route_plans_are_deterministic_copies(base_config: dict) -> None:
    model = parse_fleet(copy.deepcopy(base_config)).environments["production"].models["ai-model"]
    assert plan_routes("ai-model", model) == plan_routes("ai-model", model)
