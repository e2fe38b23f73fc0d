"""Istio traffic objects of a model: DestinationRule (subsets, resilience) and VirtualService."""
from __future__ import annotations

import cdk8s
from constructs import Construct

from imports.io.istio import networking as istio

from model_serving.fleet.schema import Model, Retries, StringMatch
from model_serving.fleet.routes import RoutePlan, edge_routes
from model_serving.k8s.workload import labels

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
LB = istio.DestinationRuleSpecTrafficPolicyLoadBalancerSimple
LB_SIMPLE = {"LEAST_REQUEST": LB.LEAST_UNDERSCORE_REQUEST, "ROUND_ROBIN": LB.ROUND_UNDERSCORE_ROBIN, "RANDOM": LB.RANDOM}


class ModelDestinationRule:
    """DestinationRule named after the model: one subset per version, serving-grade policy.

    Not a construct of its own (a construct level costs a jsii call): the object is added to `scope`.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, namespace: str, host: str, model: Model) -> None:
        pool, outlier, balance = model.connection_pool, model.outlier_detection, model.load_balancer
        hashing = balance.consistent_hash
        istio.DestinationRule(
            scope,
            id,
            metadata=cdk8s.ApiObjectMetadata(name=name, namespace=namespace, labels=labels(name)),
            spec=istio.DestinationRuleSpec(
                host=host,
                traffic_policy=istio.DestinationRuleSpecTrafficPolicy(
                    tls=istio.DestinationRuleSpecTrafficPolicyTls(
                        mode=istio.DestinationRuleSpecTrafficPolicyTlsMode.ISTIO_UNDERSCORE_MUTUAL
                    ),
                    connection_pool=istio.DestinationRuleSpecTrafficPolicyConnectionPool(
                        tcp=istio.DestinationRuleSpecTrafficPolicyConnectionPoolTcp(max_connections=pool.max_connections),
                        http=istio.DestinationRuleSpecTrafficPolicyConnectionPoolHttp(
                            http1_max_pending_requests=pool.max_pending_requests,
                            http2_max_requests=pool.max_requests,
                            max_requests_per_connection=pool.max_requests_per_connection or None,
                        ),
                    ),
                    outlier_detection=istio.DestinationRuleSpecTrafficPolicyOutlierDetection(
                        consecutive5_xx_errors=outlier.consecutive_5xx_errors,
                        consecutive_gateway_errors=outlier.consecutive_gateway_errors,
                        interval=outlier.interval,
                        base_ejection_time=outlier.base_ejection_time,
                        max_ejection_percent=outlier.max_ejection_percent,
                    ),
                    load_balancer=istio.DestinationRuleSpecTrafficPolicyLoadBalancer(
                        simple=None if hashing else LB_SIMPLE[balance.simple],
                        consistent_hash=istio.DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash(
                            http_header_name=hashing.header,
                            http_cookie=istio.DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookie(
                                name=hashing.cookie, ttl=hashing.cookie_ttl
                            ) if hashing.cookie else None,
                            use_source_ip=hashing.source_ip or None,
                        ) if hashing else None,
                    ),
                ),
                subsets=[
                    istio.DestinationRuleSpecSubsets(name=version, labels={"version": version})
                    for version in model.versions
                ],
            ),
        )


def _match_value(match: StringMatch) -> istio.VirtualServiceSpecHttpMatchHeaders:
    return istio.VirtualServiceSpecHttpMatchHeaders(exact=match.exact, prefix=match.prefix, regex=match.regex)


def _retries(retries: Retries | None) -> istio.VirtualServiceSpecHttpRetries:
    # Always explicit: Istio's implicit default (2 attempts, incl. 503) would replay GPU work.
    if retries is None or retries.attempts == 0:
        return istio.VirtualServiceSpecHttpRetries(attempts=0)
    return istio.VirtualServiceSpecHttpRetries(
        attempts=retries.attempts,
        per_try_timeout=retries.per_try_timeout,
        retry_on=retries.retry_on,
        backoff=retries.backoff,
    )


def http_route(plan: RoutePlan, *, host: str, port: int) -> istio.VirtualServiceSpecHttp:
    """Translate one RoutePlan into an Istio HTTPRoute."""
    match = None
    if plan.has_match:
        match = [
            istio.VirtualServiceSpecHttpMatch(
                headers={k: _match_value(v) for k, v in plan.headers.items()} or None,
                query_params={k: istio.VirtualServiceSpecHttpMatchQueryParams(exact=v.exact, prefix=v.prefix, regex=v.regex)
                              for k, v in plan.query_params.items()} or None,
                uri=istio.VirtualServiceSpecHttpMatchUri(exact=plan.uri.exact, prefix=plan.uri.prefix, regex=plan.uri.regex)
                if plan.uri else None,
                gateways=[plan.gateway] if plan.gateway else None,
            )
        ]
    fault = None
    if plan.fault:
        f = plan.fault
        fault = istio.VirtualServiceSpecHttpFault(
            delay=istio.VirtualServiceSpecHttpFaultDelay(
                fixed_delay=f.delay, percentage=istio.VirtualServiceSpecHttpFaultDelayPercentage(value=f.delay_percent)
            ) if f.delay else None,
            abort=istio.VirtualServiceSpecHttpFaultAbort(
                http_status=f.abort_status, percentage=istio.VirtualServiceSpecHttpFaultAbortPercentage(value=f.abort_percent)
            ) if f.abort_status else None,
        )
    destination_port = istio.VirtualServiceSpecHttpRouteDestinationPort(number=port)
    return istio.VirtualServiceSpecHttp(
        name=plan.name,
        match=match,
        route=[
            istio.VirtualServiceSpecHttpRoute(
                destination=istio.VirtualServiceSpecHttpRouteDestination(host=host, subset=d.version, port=destination_port),
                weight=d.weight,
                headers=istio.VirtualServiceSpecHttpRouteHeaders(
                    response=istio.VirtualServiceSpecHttpRouteHeadersResponse(add={"Set-Cookie": d.set_cookie})
                ) if d.set_cookie else None,
            )
            for d in plan.destinations
        ],
        mirrors=[
            istio.VirtualServiceSpecHttpMirrors(
                destination=istio.VirtualServiceSpecHttpMirrorsDestination(
                    host=host, subset=plan.mirror.version,
                    port=istio.VirtualServiceSpecHttpMirrorsDestinationPort(number=port),
                ),
                percentage=istio.VirtualServiceSpecHttpMirrorsPercentage(value=plan.mirror.percent),
            )
        ] if plan.mirror else None,
        rewrite=istio.VirtualServiceSpecHttpRewrite(uri=plan.rewrite) if plan.rewrite else None,
        timeout=plan.timeout,
        retries=_retries(plan.retries),
        fault=fault,
    )


class ModelVirtualService:
    """VirtualService named after the model, for the mesh and (when exposed) the gateway.

    Without a prefix one VirtualService serves both the in-mesh host and the external host.
    With a prefix, the external host is shared with other models, so the gateway routes live in
    a second VirtualService `<model>-edge` and the mesh one keeps the Service host alone.
    Both are added to `scope` (no construct level of its own: each costs a jsii call).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        namespace: str,
        host: str,
        port: int,
        model: Model,
        routes: list[RoutePlan],
        gateway: str,
    ) -> None:
        # Argo CD applies a sync wave only once the previous one is healthy (Deployments rolled
        # out): routes in wave 1 reach new subsets after their pods are ready.
        meta = {"namespace": namespace, "labels": labels(name), "annotations": {SYNC_WAVE: "1"}}
        exposed_here = model.host is not None and model.prefix is None
        istio.VirtualService(
            scope,
            id,
            metadata=cdk8s.ApiObjectMetadata(name=name, **meta),
            spec=istio.VirtualServiceSpec(
                hosts=[host, model.host] if exposed_here else [host],
                gateways=[gateway, "mesh"] if exposed_here else ["mesh"],
                http=[http_route(r, host=host, port=port) for r in routes],
            ),
        )
        if model.host is not None and model.prefix is not None:
            istio.VirtualService(
                scope,
                f"{id}.Edge",
                metadata=cdk8s.ApiObjectMetadata(name=f"{name}-edge", **meta),
                spec=istio.VirtualServiceSpec(
                    hosts=[model.host],
                    gateways=[gateway],
                    http=[
                        http_route(r, host=host, port=port)
                        for r in edge_routes(routes, prefix=model.prefix, gateway=gateway)
                    ],
                ),
            )
