"""Istio objects against their CRD's openAPIV3Schema (structural, strict field validation)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from model_serving.checks.validate import (
    IstioSchemaValidator,
    ValidationError,
    default_crd_path,
)

NAMESPACE = "ai-services"


def _meta(name: str) -> dict:
    return {"name": name, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/name": "ai-model"}}


VIRTUAL_SERVICE = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": _meta("ai-model"),
    "spec": {
        "hosts": ["ai-model.ai-services.svc.cluster.local"],
        "gateways": ["mesh", "ai-services/ai-gateway"],
        "http": [
            {
                "name": "primary",
                "match": [{"uri": {"prefix": "/v1/"}, "headers": {"x-model": {"exact": "llama"}}}],
                "timeout": "30s",
                "retries": {"attempts": 3, "perTryTimeout": "10s", "retryOn": "5xx,reset"},
                "route": [
                    {
                        "destination": {
                            "host": "ai-model",
                            "subset": "v1",
                            "port": {"number": 8080},
                        },
                        "weight": 90,
                    },
                    {
                        "destination": {
                            "host": "ai-model",
                            "subset": "v2",
                            "port": {"number": 8080},
                        },
                        "weight": 10,
                    },
                ],
            }
        ],
    },
}

DESTINATION_RULE = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "DestinationRule",
    "metadata": _meta("ai-model"),
    "spec": {
        "host": "ai-model",
        "trafficPolicy": {
            "connectionPool": {
                "http": {"http1MaxPendingRequests": 100, "idleTimeout": "60s"},
                "tcp": {"maxConnections": 100, "connectTimeout": "5s"},
            },
            "outlierDetection": {
                "consecutive5xxErrors": 5,
                "interval": "10s",
                "baseEjectionTime": "30s",
            },
            "loadBalancer": {"simple": "LEAST_REQUEST"},
            "tls": {"mode": "ISTIO_MUTUAL"},
        },
        "subsets": [
            {"name": "v1", "labels": {"version": "v1"}},
            {"name": "v2", "labels": {"version": "v2"}},
        ],
    },
}

GATEWAY = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "Gateway",
    "metadata": _meta("ai-gateway"),
    "spec": {
        "selector": {"istio": "ingressgateway"},
        "servers": [
            {
                "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                "hosts": ["models.example.com"],
                "tls": {"mode": "SIMPLE", "credentialName": "models-cert"},
            }
        ],
    },
}

PEER_AUTHENTICATION = {
    "apiVersion": "security.istio.io/v1",
    "kind": "PeerAuthentication",
    "metadata": _meta("ai-model"),
    "spec": {
        "selector": {"matchLabels": {"app": "ai-model"}},
        "mtls": {"mode": "STRICT"},
        "portLevelMtls": {"9090": {"mode": "PERMISSIVE"}},
    },
}

AUTHORIZATION_POLICY = {
    "apiVersion": "security.istio.io/v1",
    "kind": "AuthorizationPolicy",
    "metadata": _meta("ai-model"),
    "spec": {
        "selector": {"matchLabels": {"app": "ai-model"}},
        "action": "ALLOW",
        "rules": [
            {
                "from": [{"source": {"principals": ["cluster.local/ns/istio-system/sa/ingress"]}}],
                "to": [{"operation": {"methods": ["POST"], "paths": ["/v1/*"]}}],
                "when": [
                    {"key": "request.auth.claims[iss]", "values": ["https://issuer.example.com"]}
                ],
            }
        ],
    },
}

REQUEST_AUTHENTICATION = {
    "apiVersion": "security.istio.io/v1",
    "kind": "RequestAuthentication",
    "metadata": _meta("ai-model"),
    "spec": {
        "selector": {"matchLabels": {"app": "ai-model"}},
        "jwtRules": [
            {
                "issuer": "https://issuer.example.com",
                "jwksUri": "https://issuer.example.com/.well-known/jwks.json",
                "forwardOriginalToken": True,
            }
        ],
    },
}

VALID_OBJECTS = [
    VIRTUAL_SERVICE,
    DESTINATION_RULE,
    GATEWAY,
    PEER_AUTHENTICATION,
    AUTHORIZATION_POLICY,
    REQUEST_AUTHENTICATION,
]


@pytest.fixture(scope="module")
def istio() -> IstioSchemaValidator:
    return IstioSchemaValidator(default_crd_path())


def _paths(errors: list[ValidationError]) -> list[str]:
    return [e.path for e in errors]


@pytest.mark.parametrize("obj", VALID_OBJECTS, ids=lambda o: o["kind"])
def test_valid_object_passes(istio: IstioSchemaValidator, obj: dict) -> None:
    assert istio.validate(copy.deepcopy(obj)) == []


def test_kinds_lists_v1_networking_and_security_kinds(istio: IstioSchemaValidator) -> None:
    kinds = istio.kinds()
    for obj in VALID_OBJECTS:
        assert (obj["apiVersion"], obj["kind"]) in kinds
    assert ("networking.istio.io/v1alpha3", "EnvoyFilter") in kinds


def test_fails_when_spec_has_unknown_top_level_field(istio: IstioSchemaValidator) -> None:
    vs = copy.deepcopy(VIRTUAL_SERVICE)
    vs["spec"]["hostz"] = ["typo"]
    [error] = istio.validate(vs)
    assert error.path == "spec.hostz"
    assert error.message == 'unknown field "hostz"'
    assert error.resource == "VirtualService ai-services/ai-model"


def test_fails_when_deeply_nested_field_is_unknown(istio: IstioSchemaValidator) -> None:
    vs = copy.deepcopy(VIRTUAL_SERVICE)
    vs["spec"]["http"][0]["route"][0]["destination"]["subsett"] = "v1"
    assert _paths(istio.validate(vs)) == ["spec.http[0].route[0].destination.subsett"]


def test_fails_when_object_has_unknown_root_field(istio: IstioSchemaValidator) -> None:
    vs = copy.deepcopy(VIRTUAL_SERVICE)
    vs["specs"] = {}
    assert _paths(istio.validate(vs)) == ["specs"]


def test_metadata_is_not_validated_against_the_crd(istio: IstioSchemaValidator) -> None:
    vs = copy.deepcopy(VIRTUAL_SERVICE)
    vs["metadata"]["annotations"] = {"anything": "goes"}
    assert istio.validate(vs) == []


def test_fails_when_metadata_name_is_missing(istio: IstioSchemaValidator) -> None:
    vs = copy.deepcopy(VIRTUAL_SERVICE)
    del vs["metadata"]["name"]
    [error] = istio.validate(vs)
    assert error.path == "metadata.name"


def test_fails_when_weight_has_wrong_type(istio: IstioSchemaValidator) -> None:
    vs = copy.deepcopy(VIRTUAL_SERVICE)
    vs["spec"]["http"][0]["route"][1]["weight"] = "10"
    errors = istio.validate(vs)
    assert errors[0].path == "spec.http[0].route[1].weight"
    assert errors[0].message == "must be of type integer, got string"
    # like the API server, type errors stop CEL evaluation, and say so
    assert "validation rules were not checked" in errors[-1].message


def test_fails_when_integer_is_out_of_int32_range(istio: IstioSchemaValidator) -> None:
    vs = copy.deepcopy(VIRTUAL_SERVICE)
    vs["spec"]["http"][0]["route"][1]["weight"] = 2**31
    [error] = istio.validate(vs)
    assert (error.path, error.message) == (
        "spec.http[0].route[1].weight",
        "2147483648 is not a valid int32",
    )


def test_fails_when_enum_value_is_unsupported(istio: IstioSchemaValidator) -> None:
    policy = copy.deepcopy(AUTHORIZATION_POLICY)
    policy["spec"]["action"] = "PERMIT"
    [error] = istio.validate(policy)
    assert error.path == "spec.action"
    assert error.message.startswith('unsupported value "PERMIT": supported values: "ALLOW"')


def test_fails_when_required_field_is_missing(istio: IstioSchemaValidator) -> None:
    gateway = copy.deepcopy(GATEWAY)
    del gateway["spec"]["servers"][0]["port"]["protocol"]
    [error] = istio.validate(gateway)
    assert (error.path, error.message) == (
        "spec.servers[0].port",
        'missing required field "protocol"',
    )


def test_fails_when_mutually_exclusive_fields_are_both_set(istio: IstioSchemaValidator) -> None:
    vs = copy.deepcopy(VIRTUAL_SERVICE)
    vs["spec"]["http"][0]["match"][0]["uri"] = {"prefix": "/v1/", "exact": "/v1/chat"}
    [error] = istio.validate(vs)
    assert error.path == "spec.http[0].match[0].uri"
    assert error.message == "at most one of exact, prefix, regex may be set (found exact, prefix)"


def test_fails_when_max_items_is_exceeded(istio: IstioSchemaValidator) -> None:
    gateway = copy.deepcopy(GATEWAY)
    tls = gateway["spec"]["servers"][0]["tls"]
    del tls["credentialName"]
    tls["credentialNames"] = ["a", "b", "c"]
    [error] = istio.validate(gateway)
    assert (error.path, error.message) == (
        "spec.servers[0].tls.credentialNames",
        "must have at most 2 items",
    )


def test_fails_when_int_or_string_gets_a_list(istio: IstioSchemaValidator) -> None:
    se = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": _meta("external"),
        "spec": {
            "hosts": ["api.example.com"],
            "resolution": "DNS",
            "ports": [{"number": 443, "name": "https", "protocol": "TLS"}],
        },
        "status": {"observedGeneration": [1]},
    }
    errors = istio.validate(se)
    assert [(e.path, e.message) for e in errors] == [
        ("status.observedGeneration", "must be of type integer or string, got array"),
        ("", "validation rules were not checked because the object has type errors"),
    ]
    se["status"]["observedGeneration"] = "3"
    assert istio.validate(se) == []


def test_map_values_are_checked_against_additional_properties(istio: IstioSchemaValidator) -> None:
    gateway = copy.deepcopy(GATEWAY)
    gateway["spec"]["selector"]["app.kubernetes.io/name"] = 7
    [error, *_] = istio.validate(gateway)
    assert error.path == 'spec.selector["app.kubernetes.io/name"]'


def test_preserve_unknown_fields_allows_arbitrary_content(istio: IstioSchemaValidator) -> None:
    envoy_filter = {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "EnvoyFilter",
        "metadata": _meta("tweak"),
        "spec": {
            "configPatches": [
                {
                    "applyTo": "CLUSTER",
                    "patch": {"operation": "MERGE", "value": {"anything": {"nested": True}}},
                }
            ]
        },
    }
    assert istio.validate(envoy_filter) == []


def test_fails_when_kind_is_not_in_the_bundle(istio: IstioSchemaValidator) -> None:
    obj = {
        "apiVersion": "networking.istio.io/v2",
        "kind": "VirtualService",
        "metadata": _meta("x"),
        "spec": {},
    }
    [error] = istio.validate(obj)
    assert error.path == "apiVersion"
    assert "unknown Istio kind 'VirtualService' in 'networking.istio.io/v2'" in error.message


def test_older_served_versions_are_validated_too(istio: IstioSchemaValidator) -> None:
    vs = copy.deepcopy(VIRTUAL_SERVICE)
    vs["apiVersion"] = "networking.istio.io/v1beta1"
    assert istio.validate(vs) == []
    vs["spec"]["bogus"] = 1
    assert _paths(istio.validate(vs)) == ["spec.bogus"]


def test_error_renders_on_one_line() -> None:
    error = ValidationError("VirtualService ns/a", "spec.http[0]", "first\nsecond")
    assert str(error) == "VirtualService ns/a: spec.http[0]: first second"
    assert str(ValidationError("Gateway g", "", "bad")) == "Gateway g: bad"


def test_fails_when_bundle_is_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ValueError, match="nope.yaml") as raised:
        IstioSchemaValidator(missing)
    assert "\n" not in str(raised.value)


def test_fails_when_bundle_is_not_yaml(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [unclosed\n")
    with pytest.raises(ValueError, match="broken.yaml"):
        IstioSchemaValidator(broken)


def test_fails_when_bundle_has_no_crds(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(ValueError, match="no CustomResourceDefinition"):
        IstioSchemaValidator(empty)
