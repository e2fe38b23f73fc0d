"""Security on by default: strict mTLS, per-model authorization, optional JWT, NetworkPolicy."""
from __future__ import annotations

import cdk8s
import cdk8s_plus_27 as kplus
from constructs import Construct

from imports.io.istio import security as istio

from .config import Env, Model
from .workload import labels

ALLOW = istio.AuthorizationPolicySpecAction.ALLOW
STRICT = istio.PeerAuthenticationSpecMtlsMode.STRICT


def principal(namespace: str, service_account: str) -> str:
    """The SPIFFE-style principal Istio gives a workload's service account."""
    return f"cluster.local/ns/{namespace}/sa/{service_account}"


class NamespaceSecurity(Construct):
    """PeerAuthentication STRICT for the namespace, and RequestAuthentication when JWT is on."""

    def __init__(self, scope: Construct, id: str, *, env: Env) -> None:
        super().__init__(scope, id)
        istio.PeerAuthentication(
            self,
            "Resource",
            metadata=cdk8s.ApiObjectMetadata(name="default", namespace=env.namespace),
            spec=istio.PeerAuthenticationSpec(mtls=istio.PeerAuthenticationSpecMtls(mode=STRICT)),
        )
        if env.jwt is not None:
            istio.RequestAuthentication(
                self,
                "Jwt",
                metadata=cdk8s.ApiObjectMetadata(name="jwt", namespace=env.namespace),
                spec=istio.RequestAuthenticationSpec(
                    jwt_rules=[
                        istio.RequestAuthenticationSpecJwtRules(
                            issuer=env.jwt.issuer,
                            jwks_uri=env.jwt.jwks_uri,
                            audiences=list(env.jwt.audiences) or None,
                        )
                    ]
                ),
            )


class ModelAccess(Construct):
    """Who may call a model: the ingress gateway (with a valid JWT if required) and declared consumers.

    An ALLOW policy denies everything it does not match, so a model without consumers is
    reachable only through the gateway.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, env: Env, model: Model) -> None:
        super().__init__(scope, id)
        workload = env.gateway.workload
        from_gateway = istio.AuthorizationPolicySpecRulesFromSource(
            principals=[principal(workload.namespace, workload.service_account)],
            request_principals=["*"] if env.jwt is not None else None,
        )
        rules = [istio.AuthorizationPolicySpecRules(from_=[istio.AuthorizationPolicySpecRulesFrom(source=from_gateway)])]
        for consumer in model.consumers:
            assert consumer.namespace is not None
            source = (
                istio.AuthorizationPolicySpecRulesFromSource(principals=[principal(consumer.namespace, consumer.service_account)])
                if consumer.service_account
                else istio.AuthorizationPolicySpecRulesFromSource(namespaces=[consumer.namespace])
            )
            operation = None
            if consumer.methods or consumer.paths:
                operation = istio.AuthorizationPolicySpecRulesToOperation(
                    methods=list(consumer.methods) or None, paths=list(consumer.paths) or None
                )
            rules.append(
                istio.AuthorizationPolicySpecRules(
                    from_=[istio.AuthorizationPolicySpecRulesFrom(source=source)],
                    to=[istio.AuthorizationPolicySpecRulesTo(operation=operation)] if operation else None,
                )
            )
        istio.AuthorizationPolicy(
            self,
            "Resource",
            metadata=cdk8s.ApiObjectMetadata(name=name, namespace=env.namespace, labels=labels(name)),
            spec=istio.AuthorizationPolicySpec(
                action=ALLOW,
                selector=istio.AuthorizationPolicySpecSelector(match_labels=labels(name)),
                rules=rules,
            ),
        )
        # Defence in depth below the mesh: only the gateway's and the consumers' namespaces may
        # open connections to the model's port at all.
        namespaces = sorted({workload.namespace, *(c.namespace for c in model.consumers if c.namespace)})
        k8s = kplus.k8s
        kplus.k8s.KubeNetworkPolicy(
            self,
            "Network",
            metadata=kplus.k8s.ObjectMeta(name=name, namespace=env.namespace, labels=labels(name)),
            spec=k8s.NetworkPolicySpec(
                pod_selector=k8s.LabelSelector(match_labels=labels(name)),
                policy_types=["Ingress"],
                ingress=[
                    k8s.NetworkPolicyIngressRule(
                        from_=[
                            k8s.NetworkPolicyPeer(
                                namespace_selector=k8s.LabelSelector(match_labels={"kubernetes.io/metadata.name": ns})
                            )
                            for ns in namespaces
                        ],
                        ports=[k8s.NetworkPolicyPort(port=k8s.IntOrString.from_number(model.port), protocol="TCP")],
                    )
                ],
            ),
        )
