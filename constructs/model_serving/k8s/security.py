"""Security on by default: strict mTLS, per-model authorization, optional JWT, NetworkPolicy.

Layers, from the outside in:

- the edge (edge.py) terminates TLS at the shared ingress gateway;
- `PeerAuthentication` STRICT: every connection to a model's sidecar is mutual TLS, so every
  caller has a verified identity (the DestinationRules use ISTIO_MUTUAL to match);
- one ALLOW `AuthorizationPolicy` per model: the ingress gateway's identity, plus the consumers
  declared in serving.yaml; anything it does not match is denied;
- with `jwt`, a `RequestAuthentication` and the gateway rule above also require a valid token;
- one `NetworkPolicy` per model: only the namespaces of those callers may open a connection.
"""
from __future__ import annotations

import cdk8s
import cdk8s_plus_27 as kplus
from constructs import Construct

from imports.io.istio import security as istio

from model_serving.k8s import values
from model_serving.fleet.schema import Consumer, Env, Model
from model_serving.k8s.workload import labels

ALLOW = istio.AuthorizationPolicySpecAction.ALLOW
STRICT = istio.PeerAuthenticationSpecMtlsMode.STRICT
# istio-agent's port for merged Prometheus metrics (app + Envoy); see Environment.metrics_from.
METRICS_PORT = 15020


def principal(namespace: str, service_account: str) -> str:
    """The identity Istio gives a workload's service account, as authorization policies write it.

    `cluster.local` here stands for the mesh's trust domain (and its aliases) whatever it is
    actually called, so policies survive a trust-domain change.
    """
    return f"cluster.local/ns/{namespace}/sa/{service_account}"


def request_principals(env: Env) -> list[str] | None:
    """The request principals a gateway request must carry: any subject of our JWT issuer."""
    # `<issuer>/*` rather than `*`: a mesh-wide RequestAuthentication for another issuer
    # must not open our models to its tokens.
    return [f"{env.jwt.issuer}/*"] if env.jwt is not None else None


class NamespaceSecurity:
    """PeerAuthentication STRICT for the namespace, and RequestAuthentication when JWT is on.

    Like the other classes here, not a construct of its own (a construct level costs a jsii
    call): it adds its objects to `scope` under ids starting with `id`.
    """

    def __init__(self, scope: Construct, id: str, *, env: Env) -> None:
        istio.PeerAuthentication(
            scope,
            id,
            metadata=cdk8s.ApiObjectMetadata(name="default", namespace=env.namespace),
            spec=istio.PeerAuthenticationSpec(mtls=istio.PeerAuthenticationSpecMtls(mode=STRICT)),
        )
        if env.jwt is not None:
            # Namespace-wide (no selector): every model's sidecar validates tokens. A request with an
            # invalid token is rejected (401); one without a token passes this step with no request
            # principal, and ModelAccess then denies it (403) if it came through the gateway.
            rule: dict[str, object] = {"issuer": env.jwt.issuer, "jwksUri": env.jwt.jwks_uri}
            if env.jwt.audiences:
                rule = {"audiences": list(env.jwt.audiences), **rule}  # keys sorted, as cdk8s writes the rest
            # A plain ApiObject: the imported class writes the CRD's legacy `jwks_uri` spelling
            # (it re-maps its fields after patches too); `jwksUri` is the documented field.
            jwt = cdk8s.ApiObject(
                scope,
                f"{id}.Jwt",
                api_version=istio.RequestAuthentication.GVK.api_version,
                kind=istio.RequestAuthentication.GVK.kind,
                metadata=cdk8s.ApiObjectMetadata(name="jwt", namespace=env.namespace),
            )
            jwt.add_json_patch(cdk8s.JsonPatch.add("/spec", {"jwtRules": [rule]}))


def _consumer_rule(consumer: Consumer) -> istio.AuthorizationPolicySpecRules:
    """One ALLOW rule: the consumer's identity (or namespace), optionally only some methods/paths."""
    assert consumer.namespace is not None  # Consumer's validator guarantees it
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


class ModelAccess:
    """Who may call a model: the ingress gateway (with a valid JWT if required) and declared consumers.

    An ALLOW policy denies everything it does not match, so a model without consumers is
    reachable only through the gateway. JWT is enforced here, at the model's sidecar, on requests
    whose mTLS identity is the gateway's: every object stays in our namespace (a policy on the
    shared gateway would live in its namespace and affect every team's hosts), and the gateway
    cannot be bypassed because direct callers must be declared consumers. Kubelet probes are
    rewritten by Istio to the sidecar agent, which calls the server over localhost, so neither
    mTLS nor this policy stands in their way.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, env: Env, model: Model) -> None:
        workload = env.gateway.workload
        from_gateway = istio.AuthorizationPolicySpecRulesFromSource(
            principals=[principal(workload.namespace, workload.service_account)],
            request_principals=request_principals(env),
        )
        rules = [istio.AuthorizationPolicySpecRules(from_=[istio.AuthorizationPolicySpecRulesFrom(source=from_gateway)])]
        rules += [_consumer_rule(consumer) for consumer in model.consumers]
        istio.AuthorizationPolicy(
            scope,
            id,
            metadata=cdk8s.ApiObjectMetadata(name=name, namespace=env.namespace, labels=labels(name)),
            spec=istio.AuthorizationPolicySpec(
                action=ALLOW,
                selector=istio.AuthorizationPolicySpecSelector(match_labels=labels(name)),
                rules=rules,
            ),
        )
        ModelNetworkPolicy(scope, f"{id}.Network", name=name, env=env, model=model)


class ModelNetworkPolicy:
    """Defence in depth below the mesh: which namespaces may open connections to a model's pods.

    The serving port admits the gateway's and the consumers' namespaces; the metrics port admits
    `metricsFrom`. Nothing else is needed: Kubernetes always admits traffic from the pod's own
    node, which is where kubelet probes (rewritten by Istio to ports 15020/15021) come from.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, env: Env, model: Model) -> None:
        k8s = kplus.k8s
        callers = sorted({env.gateway.workload.namespace, *(c.namespace for c in model.consumers if c.namespace)})

        def rule(namespaces: list[str], port: int) -> k8s.NetworkPolicyIngressRule:
            return k8s.NetworkPolicyIngressRule(
                from_=[
                    k8s.NetworkPolicyPeer(
                        namespace_selector=k8s.LabelSelector(match_labels={"kubernetes.io/metadata.name": ns})
                    )
                    for ns in namespaces
                ],
                ports=[k8s.NetworkPolicyPort(port=values.int_or_string(port), protocol="TCP")],
            )

        ingress = [rule(callers, model.port)]
        if env.metrics_from:
            ingress.append(rule(sorted(set(env.metrics_from)), METRICS_PORT))
        k8s.KubeNetworkPolicy(
            scope,
            id,
            metadata=k8s.ObjectMeta(name=name, namespace=env.namespace, labels=labels(name)),
            spec=k8s.NetworkPolicySpec(
                pod_selector=k8s.LabelSelector(match_labels=labels(name)),
                policy_types=["Ingress"],
                ingress=ingress,
            ),
        )
