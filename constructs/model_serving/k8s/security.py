"""Security on by default: strict mTLS, per-model authorization, optional JWT, NetworkPolicy.

Layers, from the outside in:

- the edge (gateway.py) terminates TLS at the ingress gateway;
- `PeerAuthentication` STRICT: every connection to a model's sidecar is mutual TLS, so every
  caller has a verified identity (the DestinationRules use ISTIO_MUTUAL to match);
- one ALLOW `AuthorizationPolicy` per model: the ingress gateway's identity, plus the consumers
  declared in serving.yaml; anything it does not match is denied;
- with `jwt`, a `RequestAuthentication` and the gateway rule above also require a valid token;
- one `NetworkPolicy` per model: only the gateway's pods and the consumers' namespaces may open a connection;
- a namespace `Sidecar`: the fleet's proxies learn only their own namespace, istio-system and the
  declared egress hosts, not every Service of the mesh.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cdk8s
import cdk8s_plus_27 as kplus

from constructs import Construct
from imports.io.istio import security as istio
from model_serving.fleet.environment import Jwt
from model_serving.fleet.names import labels, principal
from model_serving.fleet.traffic import Consumer
from model_serving.fleet.workload import Metrics
from model_serving.k8s.values import int_or_string

k8s = kplus.k8s
ALLOW = istio.AuthorizationPolicySpecAction.ALLOW
STRICT = istio.PeerAuthenticationSpecMtlsMode.STRICT
POD_SECURITY = "pod-security.kubernetes.io/"
# istio-agent's port for merged Prometheus metrics (app + Envoy); see Environment.metrics_from.
METRICS_PORT = 15020


@dataclass(frozen=True)
class GatewayIdentity:
    """Who the ingress gateway is to a model's sidecar: its pods' namespace and service account."""

    namespace: str
    service_account: str
    # Request principals a gateway request must carry (JWT subjects), or None when no JWT is required.
    request_principals: tuple[str, ...] | None = None
    # The gateway pods' labels: the NetworkPolicy admits these pods only, not their whole namespace.
    pod_labels: tuple[tuple[str, str], ...] = ()


def injection_label(revision: str | None) -> dict[str, str]:
    """The namespace label that turns sidecar injection on: a revision (or tag), else the default one."""
    return {"istio.io/rev": revision} if revision else {"istio-injection": "enabled"}


class FleetNamespace(Construct):
    """The fleet's Namespace (Resource): injection and Pod Security labels, strict mTLS, egress scope, optional JWT.

    Props: `name`; `pod_security` "restricted" (default) or "baseline"; `jwt` to validate
    tokens of one issuer in every model's sidecar and the fleet's gateway (default none);
    `revision` to inject an Istio revision or tag (default: `istio-injection: enabled`);
    `egress` (Istio `<namespace>/<host>` the models call, beyond `./*` and `istio-system/*`,
    which the namespace `Sidecar` (Egress) always lets its proxies know; default none).
    """

    def __init__(
        self, scope: Construct, id: str, *, name: str, pod_security: str = "restricted", jwt: Jwt | None = None,
        revision: str | None = None, egress: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, id)
        level = {f"{POD_SECURITY}{mode}": pod_security for mode in ("audit", "enforce", "warn")}
        k8s.KubeNamespace(
            self, "Resource",
            metadata=k8s.ObjectMeta(name=name, labels={**injection_label(revision), **level}),
            spec=k8s.NamespaceSpec(),
        )
        # A plain ApiObject: imports/ holds only the Istio kinds generated so far (no Sidecar).
        # Gateways ignore Sidecars (istiod gives them the namespace's default scope).
        sidecar = cdk8s.ApiObject(
            self, "Egress", api_version="networking.istio.io/v1", kind="Sidecar",
            metadata=cdk8s.ApiObjectMetadata(name="default", namespace=name),
        )
        hosts = list(dict.fromkeys(["./*", "istio-system/*", *egress]))
        sidecar.add_json_patch(cdk8s.JsonPatch.add("/spec", {"egress": [{"hosts": hosts}]}))
        istio.PeerAuthentication(
            self, "Mtls",
            metadata=cdk8s.ApiObjectMetadata(name="default", namespace=name),
            spec=istio.PeerAuthenticationSpec(mtls=istio.PeerAuthenticationSpecMtls(mode=STRICT)),
        )
        if jwt is not None:
            self._jwt(name, jwt)

    def _jwt(self, namespace: str, jwt: Jwt) -> None:
        # Namespace-wide (no selector): every model's sidecar validates tokens. A request with an
        # invalid token is rejected (401); one without a token passes this step with no request
        # principal, and ModelAccess then denies it (403) if it came through the gateway.
        rule: dict[str, object] = {"issuer": jwt.issuer, "jwksUri": jwt.jwks_uri}
        if jwt.audiences:
            rule = {"audiences": list(jwt.audiences), **rule}  # keys sorted, as cdk8s writes the rest
        # A plain ApiObject: the imported class writes the CRD's legacy `jwks_uri` spelling
        # (it re-maps its fields after patches too); `jwksUri` is the documented field.
        resource = cdk8s.ApiObject(
            self, "Jwt",
            api_version=istio.RequestAuthentication.GVK.api_version,
            kind=istio.RequestAuthentication.GVK.kind,
            metadata=cdk8s.ApiObjectMetadata(name="jwt", namespace=namespace),
        )
        resource.add_json_patch(cdk8s.JsonPatch.add("/spec", {"jwtRules": [rule]}))


def request_principals(jwt: Jwt | None) -> tuple[str, ...] | None:
    """The request principals a gateway request must carry: any subject of our JWT issuer."""
    # `<issuer>/*` rather than `*`: a mesh-wide RequestAuthentication for another issuer
    # must not open our models to its tokens.
    return (f"{jwt.issuer}/*",) if jwt is not None else None


def _gateway_rule(gateway: GatewayIdentity) -> istio.AuthorizationPolicySpecRules:
    """The ALLOW rule for requests through the ingress gateway (with a token when JWT is on)."""
    source = istio.AuthorizationPolicySpecRulesFromSource(
        principals=[principal(gateway.namespace, gateway.service_account)],
        request_principals=list(gateway.request_principals) if gateway.request_principals else None,
    )
    return istio.AuthorizationPolicySpecRules(from_=[istio.AuthorizationPolicySpecRulesFrom(source=source)])


def _consumer_rule(consumer: Consumer) -> istio.AuthorizationPolicySpecRules:
    """One ALLOW rule: the consumer's identity (or namespace), optionally only some methods/paths."""
    if consumer.service_account:
        source = istio.AuthorizationPolicySpecRulesFromSource(
            principals=[principal(consumer.namespace, consumer.service_account)]
        )
    else:
        source = istio.AuthorizationPolicySpecRulesFromSource(namespaces=[consumer.namespace])
    operation = None
    if consumer.methods or consumer.paths:
        operation = istio.AuthorizationPolicySpecRulesToOperation(
            methods=list(consumer.methods) or None, paths=list(consumer.paths) or None
        )
    return istio.AuthorizationPolicySpecRules(
        from_=[istio.AuthorizationPolicySpecRulesFrom(source=source)],
        to=[istio.AuthorizationPolicySpecRulesTo(operation=operation)] if operation else None,
    )


class ModelAccess(Construct):
    """Who may call a model: an ALLOW AuthorizationPolicy (Resource) and a NetworkPolicy (Network).

    The ingress gateway (with a valid JWT if required) and the declared consumers may call;
    an ALLOW policy denies everything it does not match. JWT is enforced here, at the model's
    sidecar, on requests whose mTLS identity is the gateway's: every object stays in our
    namespace, and the gateway cannot be bypassed because direct callers must be declared
    consumers. Kubelet probes are rewritten by Istio to the sidecar agent, which calls the
    server over localhost, so neither mTLS nor this policy stands in their way.

    Props: `app`, `namespace`, `port` (the serving port); `gateway` (its identity; default
    none: only consumers may call), `consumers` (default none) and `metrics_from` (scraper
    namespaces, default none), `metrics` (the server's scraped metrics and their scraper, default
    none). With neither gateway nor consumers nobody may call the model.
    """

    def __init__(
        self, scope: Construct, id: str, *, app: str, namespace: str, port: int, gateway: GatewayIdentity | None = None,
        consumers: Sequence[Consumer] = (), metrics_from: Sequence[str] = (), metrics: Metrics | None = None,
    ) -> None:
        super().__init__(scope, id)
        rules = [_gateway_rule(gateway)] if gateway else []
        rules += [_consumer_rule(consumer) for consumer in consumers]
        rules += [_scraper_rule(metrics, port)] if metrics else []
        istio.AuthorizationPolicy(
            self, "Resource",
            metadata=cdk8s.ApiObjectMetadata(name=app, namespace=namespace, labels=labels(app)),
            spec=istio.AuthorizationPolicySpec(
                action=ALLOW, selector=istio.AuthorizationPolicySpecSelector(match_labels=labels(app)), rules=rules or None,
            ),
        )
        callers = [_gateway_peer(gateway)] if gateway else []
        callers += [_namespace_peer(ns) for ns in sorted({c.namespace for c in consumers})]
        self._network_policy(app, namespace, port, callers, sorted(set(metrics_from)), metrics)

    def _network_policy(
        self, app: str, namespace: str, port: int, callers: list[k8s.NetworkPolicyPeer], scrapers: list[str],
        metrics: Metrics | None,
    ) -> None:
        """Defence in depth below the mesh: which namespaces may open connections to the pods.

        Nothing else is needed: Kubernetes always admits traffic from the pod's own node, which is
        where kubelet probes (rewritten by Istio to ports 15020/15021) come from.
        """
        # An ingress rule with no peers admits everyone: with no callers, list no rule at all.
        ingress = [_from_peers(callers, port)] if callers else []
        if scrapers:
            ingress.append(_from_peers([_namespace_peer(ns) for ns in scrapers], METRICS_PORT))
        if metrics:
            ingress.append(_scraper_peer(metrics, port))
        k8s.KubeNetworkPolicy(
            self, "Network",
            metadata=k8s.ObjectMeta(name=app, namespace=namespace, labels=labels(app)),
            spec=k8s.NetworkPolicySpec(
                pod_selector=k8s.LabelSelector(match_labels=labels(app)), policy_types=["Ingress"], ingress=ingress,
            ),
        )


def _namespace_peer(namespace: str) -> k8s.NetworkPolicyPeer:
    return k8s.NetworkPolicyPeer(namespace_selector=k8s.LabelSelector(match_labels={"kubernetes.io/metadata.name": namespace}))


def _gateway_peer(gateway: GatewayIdentity) -> k8s.NetworkPolicyPeer:
    """The gateway's pods: its namespace AND its pod labels in one peer (both must hold)."""
    if not gateway.pod_labels:
        return _namespace_peer(gateway.namespace)
    return k8s.NetworkPolicyPeer(
        namespace_selector=k8s.LabelSelector(match_labels={"kubernetes.io/metadata.name": gateway.namespace}),
        pod_selector=k8s.LabelSelector(match_labels=dict(gateway.pod_labels)),
    )


def _from_peers(peers: list[k8s.NetworkPolicyPeer], port: int) -> k8s.NetworkPolicyIngressRule:
    return k8s.NetworkPolicyIngressRule(
        from_=peers, ports=[k8s.NetworkPolicyPort(port=int_or_string(port), protocol="TCP")],
    )


def _scraper_rule(metrics: Metrics, port: int) -> istio.AuthorizationPolicySpecRules:
    """The scraper may GET the metrics path on the metrics port, nothing else.

    Needed when it scrapes through the sidecar (an in-mesh Prometheus, or Istio's metrics merging
    off); with merging on it scrapes istio-agent's port 15020, which bypasses the proxy.
    """
    scraper = metrics.scraper_service_account
    source = istio.AuthorizationPolicySpecRulesFromSource(
        principals=[principal(metrics.scraper_namespace, scraper)] if scraper else None,
        namespaces=None if scraper else [metrics.scraper_namespace],
    )
    operation = istio.AuthorizationPolicySpecRulesToOperation(
        methods=["GET"], paths=[metrics.path], ports=[str(metrics.port or port)],
    )
    return istio.AuthorizationPolicySpecRules(
        from_=[istio.AuthorizationPolicySpecRulesFrom(source=source)],
        to=[istio.AuthorizationPolicySpecRulesTo(operation=operation)],
    )


def _scraper_peer(metrics: Metrics, port: int) -> k8s.NetworkPolicyIngressRule:
    """The scraper's namespace may connect to istio-agent's merged metrics and the server's own port."""
    ports = [METRICS_PORT, metrics.port or port]
    return k8s.NetworkPolicyIngressRule(
        from_=[_namespace_peer(metrics.scraper_namespace)],
        ports=[k8s.NetworkPolicyPort(port=int_or_string(p), protocol="TCP") for p in sorted(set(ports))],
    )

