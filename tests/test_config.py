"""serving.yaml validation: every mistake is one line naming the file, the field and the fix."""
from __future__ import annotations

from pathlib import Path

import pytest

from model_serving.fleet.load import ConfigError, load_fleet, parse_fleet


def _error(data: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_fleet(data, source="serving.yaml")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("serving.yaml: ") and "fix:" in message, message
    return message


def _model(data: dict) -> dict:
    return data["models"]["ai-model"]


def test_reference_config_loads_with_defaults(base_config: dict) -> None:
    env = parse_fleet(base_config).environments["production"]
    assert env.gateway_name == "ai-model-gateway"
    model = env.models["ai-model"]
    assert model.load_balancer.simple == "LEAST_REQUEST"
    # Only failures where the request never reached the model, and no per-try timeout cutting a long answer.
    assert model.retries.retry_on == "connect-failure,refused-stream,reset-before-request"
    assert model.retries.per_try_timeout is None and model.timeout == "60s"


def test_fails_when_weights_do_not_sum_to_100(base_config: dict) -> None:
    _model(base_config)["versions"]["v2"]["weight"] = 20
    assert "models.ai-model: version weights sum to 110 (v1=90, v2=20); fix: make them add up to 100" in _error(base_config)


def test_fails_when_a_key_is_unknown(base_config: dict) -> None:
    _model(base_config)["versions"]["v1"]["wieght"] = 90
    assert "models.ai-model.versions.v1.wieght: unknown field; fix: did you mean weight? remove it or check its spelling" in _error(
        base_config
    )


def test_fails_when_a_required_field_is_missing(base_config: dict) -> None:
    del _model(base_config)["versions"]["v1"]["image"]
    assert "models.ai-model.versions.v1.image: missing; fix: add it (image: The server image" in _error(base_config)


def test_fails_when_a_name_is_not_a_dns_label(base_config: dict) -> None:
    base_config["models"]["AI_Model"] = base_config["models"].pop("ai-model")
    assert "models.AI_Model" in _error(base_config)
    assert "DNS-1123" in _error(base_config)


def test_fails_when_namespace_is_not_a_dns_label(base_config: dict) -> None:
    base_config["environments"]["production"]["namespace"] = "AI Services"
    assert "environments.production.namespace: 'AI Services' is not a DNS-1123 label" in _error(base_config)


def test_fails_when_a_route_names_an_unknown_version(base_config: dict) -> None:
    _model(base_config)["routes"] = [{"name": "beta", "match": {"headers": {"x-cohort": "beta"}}, "version": "v9"}]
    assert "route 'beta' names unknown version 'v9'; fix: use one of v1, v2" in _error(base_config)


def test_fails_when_a_weight_is_negative(base_config: dict) -> None:
    _model(base_config)["versions"]["v1"]["weight"] = -10
    assert "versions.v1.weight: Input should be greater than or equal to 0" in _error(base_config)


def test_fails_when_the_model_host_is_not_on_the_gateway(base_config: dict) -> None:
    _model(base_config)["host"] = "other.example.com"
    assert "models.ai-model.host: other.example.com is not among gateway.hosts" in _error(base_config)


def test_fails_when_the_gateway_has_neither_tls_nor_plain_http(base_config: dict) -> None:
    del base_config["environments"]["production"]["gateway"]["tls"]
    assert "environments.production.gateway: the gateway has no tls" in _error(base_config)


def test_fails_when_the_top_level_is_not_a_mapping() -> None:
    with pytest.raises(ConfigError, match=r"^serving.yaml: \(top level\): expected a mapping"):
        parse_fleet(["models"], source="serving.yaml")


def test_fails_when_yaml_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "serving.yaml"
    path.write_text("models: [unclosed\n")
    with pytest.raises(ConfigError, match=r"serving.yaml: line \d+: .*; fix: correct the YAML syntax$"):
        load_fleet(path)


def test_fails_when_a_key_is_duplicated(tmp_path: Path) -> None:
    path = tmp_path / "serving.yaml"
    path.write_text("models:\n  a: {}\n  a: {}\nenvironments: {}\n")
    with pytest.raises(ConfigError, match=r"serving.yaml: line 3: key 'a' appears twice; fix: keep one$"):
        load_fleet(path)


def test_fails_when_the_file_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope.yaml: cannot read the file .*; fix: check the path and permissions$"):
        load_fleet(tmp_path / "nope.yaml")
