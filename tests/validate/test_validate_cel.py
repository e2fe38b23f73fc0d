"""CEL x-kubernetes-validations rules: all of the bundle compile; violations are reported."""

from __future__ import annotations

import copy
from pathlib import Path

import celpy
import pytest
import yaml

from model_serving.checks.validate import (
    CEL_EXTENSIONS,
    CEL_RULE_ALLOWLIST,
    CelCompileError,
    IstioSchemaValidator,
    compile_cel,
    default_crd_path,
)

KINDS = {
    ("networking.istio.io/v1", "VirtualService"),
    ("networking.istio.io/v1", "DestinationRule"),
    ("networking.istio.io/v1", "Gateway"),
    ("networking.istio.io/v1", "ServiceEntry"),
    ("security.istio.io/v1", "PeerAuthentication"),
    ("security.istio.io/v1", "AuthorizationPolicy"),
    ("security.istio.io/v1", "RequestAuthentication"),
    ("extensions.istio.io/v1alpha1", "TrafficExtension"),
}


@pytest.fixture(scope="module")
def istio() -> IstioSchemaValidator:
    return IstioSchemaValidator(default_crd_path())


def _obj(api_version: str, kind: str, spec: dict) -> dict:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "ai-model", "namespace": "ai"},
        "spec": spec,
    }


def _messages(istio: IstioSchemaValidator, obj: dict) -> list[tuple[str, str]]:
    return [(e.path, e.message) for e in istio.validate(obj)]


def _eval(expression: str, value: object) -> object:
    return compile_cel(expression).runner.evaluate({"self": celpy.json_to_cel(value)})


def test_every_rule_in_the_bundle_compiles(istio: IstioSchemaValidator) -> None:
    failures = {}
    expressions = [
        text
        for *_, rule in istio.cel_rules()
        for text in (rule["rule"], rule.get("messageExpression"))
        if text
    ]
    for text in expressions:
        try:
            compile_cel(text)
        except CelCompileError as exc:
            failures[text] = str(exc)
    assert len(expressions) > 300
    assert set(failures) == set(CEL_RULE_ALLOWLIST), failures


def test_bundle_covers_the_kinds_we_generate(istio: IstioSchemaValidator) -> None:
    with_rules = {(api_version, kind) for api_version, kind, _, _ in istio.cel_rules()}
    assert with_rules >= KINDS


def test_fails_to_compile_unknown_function() -> None:
    with pytest.raises(CelCompileError, match="noSuchFunction"):
        compile_cel("self.noSuchFunction()")


def test_fails_to_compile_syntax_error() -> None:
    with pytest.raises(CelCompileError, match="cannot parse"):
        compile_cel("self.size( ==")


def test_compiled_rules_are_cached() -> None:
    assert compile_cel("self.size() == 0") is compile_cel("self.size() == 0")


def test_fails_when_virtual_service_timeout_is_below_1ms(istio: IstioSchemaValidator) -> None:
    vs = _obj(
        "networking.istio.io/v1",
        "VirtualService",
        {"hosts": ["a"], "http": [{"timeout": "0.5ms", "route": [{"destination": {"host": "a"}}]}]},
    )
    assert _messages(istio, vs) == [
        ("spec.http[0].timeout", "must be a valid duration greater than 1ms")
    ]


def test_fails_when_duration_cannot_be_parsed(istio: IstioSchemaValidator) -> None:
    vs = _obj(
        "networking.istio.io/v1",
        "VirtualService",
        {"hosts": ["a"], "http": [{"retries": {"perTryTimeout": "soon"}}]},
    )
    [(path, message)] = _messages(istio, vs)
    assert path == "spec.http[0].retries.perTryTimeout"
    assert message.startswith("must be a valid duration greater than 1ms (rule evaluation error:")


def test_fails_when_destination_rule_outlier_interval_is_zero(istio: IstioSchemaValidator) -> None:
    dr = _obj(
        "networking.istio.io/v1",
        "DestinationRule",
        {"host": "a", "trafficPolicy": {"outlierDetection": {"interval": "0s"}}},
    )
    assert _messages(istio, dr) == [
        (
            "spec.trafficPolicy.outlierDetection.interval",
            "must be a valid duration greater than 1ms",
        )
    ]


def test_fails_when_label_value_has_wildcard(istio: IstioSchemaValidator) -> None:
    # the rule is declared on additionalProperties: self is each label value
    dr = _obj(
        "networking.istio.io/v1",
        "DestinationRule",
        {"host": "a", "workloadSelector": {"matchLabels": {"app": "ai-*"}}},
    )
    assert _messages(istio, dr) == [
        ("spec.workloadSelector.matchLabels.app", "wildcard not allowed in label value match")
    ]


def test_fails_when_gateway_sets_credential_name_and_names(istio: IstioSchemaValidator) -> None:
    tls = {"mode": "SIMPLE", "credentialName": "a", "credentialNames": ["b"]}
    gw = _obj(
        "networking.istio.io/v1",
        "Gateway",
        {
            "servers": [
                {
                    "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                    "hosts": ["*"],
                    "tls": tls,
                }
            ]
        },
    )
    assert _messages(istio, gw) == [
        ("spec.servers[0].tls", "only one of credentialName or credentialNames can be set")
    ]


def test_fails_when_authorization_policy_sets_selector_and_target_refs(
    istio: IstioSchemaValidator,
) -> None:
    spec = {
        "selector": {"matchLabels": {"app": "a"}},
        "targetRefs": [{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw"}],
        "action": "DENY",
    }
    policy = _obj("security.istio.io/v1", "AuthorizationPolicy", spec)
    assert _messages(istio, policy) == [("spec", "only one of targetRefs or selector can be set")]


def test_fails_when_authorization_policy_mixes_service_accounts_and_principals(
    istio: IstioSchemaValidator,
) -> None:
    source = {"serviceAccounts": ["ai/gateway"], "principals": ["cluster.local/ns/ai/sa/gateway"]}
    policy = _obj(
        "security.istio.io/v1",
        "AuthorizationPolicy",
        {"action": "ALLOW", "rules": [{"from": [{"source": source}]}]},
    )
    assert _messages(istio, policy) == [
        ("spec.rules[0].from[0].source", "Cannot set serviceAccounts with namespaces or principals")
    ]


def test_fails_when_authorization_policy_targets_another_namespace(
    istio: IstioSchemaValidator,
) -> None:
    ref = {"kind": "Service", "group": "", "name": "ai-model", "namespace": "other"}
    policy = _obj(
        "security.istio.io/v1", "AuthorizationPolicy", {"targetRef": ref, "action": "ALLOW"}
    )
    assert _messages(istio, policy) == [
        ("spec.targetRef.namespace", "cross namespace referencing is not currently supported")
    ]


def test_custom_authorization_policy_with_provider_passes(istio: IstioSchemaValidator) -> None:
    policy = _obj(
        "security.istio.io/v1",
        "AuthorizationPolicy",
        {"action": "CUSTOM", "provider": {"name": "ext-authz"}, "rules": [{}]},
    )
    assert istio.validate(policy) == []


def test_fails_when_peer_authentication_has_port_level_mtls_without_selector(
    istio: IstioSchemaValidator,
) -> None:
    pa = _obj(
        "security.istio.io/v1",
        "PeerAuthentication",
        {"portLevelMtls": {"8080": {"mode": "DISABLE"}}},
    )
    assert _messages(istio, pa) == [("spec", "portLevelMtls requires selector")]


def test_fails_when_peer_authentication_port_is_out_of_range(istio: IstioSchemaValidator) -> None:
    spec = {
        "selector": {"matchLabels": {"app": "a"}},
        "portLevelMtls": {"70000": {"mode": "DISABLE"}},
    }
    pa = _obj("security.istio.io/v1", "PeerAuthentication", spec)
    assert _messages(istio, pa) == [("spec.portLevelMtls", "port must be between 1-65535")]


def test_fails_when_jwks_uri_scheme_is_not_http(istio: IstioSchemaValidator) -> None:
    rule = {"issuer": "https://issuer", "jwksUri": "ftp://issuer/keys"}
    ra = _obj("security.istio.io/v1", "RequestAuthentication", {"jwtRules": [rule]})
    assert _messages(istio, ra) == [
        ("spec.jwtRules[0].jwksUri", "url must have scheme http:// or https://")
    ]


def test_fails_when_jwks_and_jwks_uri_are_both_set(istio: IstioSchemaValidator) -> None:
    rule = {"issuer": "https://issuer", "jwksUri": "https://issuer/keys", "jwks": "{}"}
    ra = _obj("security.istio.io/v1", "RequestAuthentication", {"jwtRules": [rule]})
    assert _messages(istio, ra) == [("spec.jwtRules[0]", "only one of jwks or jwksUri can be set")]


def test_fails_when_service_entry_uds_path_is_relative(istio: IstioSchemaValidator) -> None:
    # exercises the substring() extension
    spec = {
        "hosts": ["uds.local"],
        "resolution": "STATIC",
        "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
        "endpoints": [{"address": "unix://run/sock"}],
    }
    se = _obj("networking.istio.io/v1", "ServiceEntry", spec)
    assert _messages(istio, se) == [
        ("spec.endpoints[0].address", "UDS must be an absolute path or abstract socket")
    ]
    se["spec"]["endpoints"][0]["address"] = "unix:///run/sock"
    assert istio.validate(se) == []


def test_fails_when_service_entry_port_numbers_are_duplicated(istio: IstioSchemaValidator) -> None:
    port = {"number": 443, "name": "https", "protocol": "TLS"}
    spec = {
        "hosts": ["api.example.com"],
        "resolution": "DNS",
        "ports": [port, {**port, "name": "tls"}],
    }
    se = _obj("networking.istio.io/v1", "ServiceEntry", spec)
    assert _messages(istio, se) == [("spec.ports", "port number cannot be duplicated")]


def test_fails_when_list_map_keys_are_duplicated(istio: IstioSchemaValidator) -> None:
    # ServiceEntry ports are x-kubernetes-list-type: map, keyed by name
    port = {"number": 443, "name": "https", "protocol": "TLS"}
    spec = {
        "hosts": ["api.example.com"],
        "resolution": "DNS",
        "ports": [port, {**port, "number": 8443}],
    }
    se = _obj("networking.istio.io/v1", "ServiceEntry", spec)
    assert _messages(istio, se) == [("spec.ports[1]", 'duplicate value: {"name": "https"}')]


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("oci://ghcr.io/acme/filter:1.0", True),
        ("ghcr.io/acme/filter:1.0", True),
        ("https://x/f.wasm", True),
        ("ftp://x/f.wasm", False),
    ],
)
def test_wasm_plugin_url_rule_uses_url_extensions(
    istio: IstioSchemaValidator, url: str, valid: bool
) -> None:
    plugin = _obj("extensions.istio.io/v1alpha1", "WasmPlugin", {"url": url})
    expected = (
        [] if valid else [("spec.url", "url must have schema one of [http, https, file, oci]")]
    )
    assert _messages(istio, plugin) == expected


@pytest.mark.parametrize(
    ("expression", "value", "expected"),
    [
        ("self.substring(1, 3)", "abcd", "bc"),
        ("self.substring(2)", "abcd", "cd"),
        ("self.lowerAscii()", "ÀBc", "Àbc"),
        ("self.upperAscii()", "abc", "ABC"),
        ("self.split(',')", "a,b,c", ["a", "b", "c"]),
        ("self.split(',', 2)", "a,b,c", ["a", "b,c"]),
        ("self.indexOf('b')", "abcb", 1),
        ("self.lastIndexOf('b')", "abcb", 3),
        ("self.replace('b', 'x')", "abcb", "axcx"),
        ("self.trim()", "  a ", "a"),
        ("self.join('-')", ["a", "b"], "a-b"),
        ("self.charAt(1)", "abc", "b"),
        ("isIP(self)", "10.0.0.1", True),
        ("isIP(self)", "fe80::1", True),
        ("isIP(self)", "10.0.0.0/8", False),
        ("isCIDR(self)", "10.0.0.0/8", True),
        ("isCIDR(self)", "10.0.0.1", False),
        ("isURL(self)", "/relative/ok", True),
        ("isURL(self)", "no scheme", False),
        ("url(self).getHost()", "https://user@example.com:8443/p", "example.com:8443"),
        ("url(self).getHostname()", "https://[::1]:8443/p", "::1"),
        ("url(self).getPort()", "https://example.com:8443/p", "8443"),
        ("url(self).getEscapedPath()", "https://example.com/a%20b", "/a%20b"),
        ("url(self).getQuery()['k']", "https://example.com/?k=v&k=w", ["v", "w"]),
    ],
)
def test_kubernetes_cel_extension_functions(
    expression: str, value: object, expected: object
) -> None:
    assert _eval(expression, value) == celpy.json_to_cel(expected)


def test_extensions_cover_the_functions_the_bundle_needs() -> None:
    assert {"substring", "url", "isURL", "getScheme"} <= set(CEL_EXTENSIONS)


# -- generic behaviour, on a tiny CRD of our own -------------------------------------------

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.test.istio.io"},
    "spec": {
        "group": "test.istio.io",
        "names": {"kind": "Widget", "plural": "widgets"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.replicas == oldSelf.replicas",
                                        "message": "immutable",
                                    },
                                    {
                                        "rule": "self.replicas <= 10",
                                        "messageExpression": "'too many: ' + string(self.replicas)",
                                    },
                                    {"rule": "self.replicas >= 0"},
                                ],
                                "properties": {
                                    "replicas": {"type": "integer", "minimum": -5},
                                    "note": {"type": "string", "nullable": True, "maxLength": 5},
                                    "items": {
                                        "type": "array",
                                        "x-kubernetes-list-type": "set",
                                        "items": {"type": "string"},
                                    },
                                },
                            }
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def widgets(tmp_path_factory: pytest.TempPathFactory) -> IstioSchemaValidator:
    path: Path = tmp_path_factory.mktemp("crds") / "widgets.yaml"
    path.write_text(yaml.safe_dump(WIDGET_CRD))
    return IstioSchemaValidator(path)


def _widget(spec: dict) -> dict:
    return {
        "apiVersion": "test.istio.io/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": copy.deepcopy(spec),
    }


def test_transition_rules_are_skipped(widgets: IstioSchemaValidator) -> None:
    assert widgets.validate(_widget({"replicas": 3})) == []


def test_message_expression_is_used_for_the_message(widgets: IstioSchemaValidator) -> None:
    assert _messages(widgets, _widget({"replicas": 11})) == [("spec", "too many: 11")]


def test_rule_without_message_reports_the_rule(widgets: IstioSchemaValidator) -> None:
    assert _messages(widgets, _widget({"replicas": -1})) == [
        ("spec", "failed rule: self.replicas >= 0")
    ]


def test_nullable_field_accepts_null(widgets: IstioSchemaValidator) -> None:
    assert widgets.validate(_widget({"replicas": 1, "note": None})) == []


def test_fails_when_non_nullable_field_is_null(widgets: IstioSchemaValidator) -> None:
    messages = _messages(widgets, _widget({"replicas": None}))
    assert messages[0] == ("spec.replicas", "must be of type integer, got null")


def test_fails_when_string_is_too_long(widgets: IstioSchemaValidator) -> None:
    assert _messages(widgets, _widget({"replicas": 1, "note": "toolong"})) == [
        ("spec.note", "length must be at most 5")
    ]


def test_fails_when_set_list_has_duplicates(widgets: IstioSchemaValidator) -> None:
    assert _messages(widgets, _widget({"replicas": 1, "items": ["a", "b", "a"]})) == [
        ("spec.items[2]", 'duplicate value: "a"')
    ]
